#!/usr/bin/env python3
"""Small dataset files for Tests/RecDataTests, written by hand here (no real data is committed):
RecBole atomic files (CRLF endings), Amazon 2014 reviews + Python-literal metadata, Amazon 2018 JSON
metadata, gzip copies, a CSV with quoting, and malformed variants of each.
Run from the repository root: python3 Tools/make_recdata_fixtures.py
"""
import gzip, json, os

OUT = os.path.join("Tests", "RecDataTests", "Fixtures")


def w(name, text, crlf=False):
    data = text.replace("\n", "\r\n") if crlf else text
    with open(os.path.join(OUT, name), "w", newline="") as f:
        f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    w("tiny.inter", "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
      "u1\ti1\t5\t100\nu1\ti2\t4\t90\nu2\ti1\t2\t50\nu2\ti3\t5\t60\nu1\ti1\t1\t300\n", crlf=True)
    w("tiny.item", "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
      "i1\tThe Matrix\t1999\tAction Sci-Fi\ni2\tAmélie\t2001\tComedy Romance\ni3\tUp\t2009\tAnimation\n", crlf=True)
    w("tiny.user", "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
      "u1\t18\tF\tstudent\t12345\nu2\t45\tM\tengineer\t54321\n", crlf=True)
    w("short_row.inter", "user_id:token\titem_id:token\trating:float\n1\t2\t3\n4\t5\n")
    w("bad_rating.inter", "user_id:token\titem_id:token\trating:float\n1\t2\t3\n4\t5\tfive\n")
    w("bad_header.inter", "user_id\titem_id:token\n1\t2\n")

    reviews = [
        {"reviewerID": "A1", "asin": "B01", "overall": 5.0, "reviewText": "Great \"tutu\", my daughter loves it.", "summary": "Great", "unixReviewTime": 1400000000},
        {"reviewerID": "A1", "asin": "B02", "overall": 2.0, "summary": "Meh", "unixReviewTime": 1300000000},
        {"reviewerID": "A2", "asin": "B01", "overall": 4.0, "reviewText": "Nice colours \u00e9t\u00e9 \U0001F600", "unixReviewTime": 1350000000},
    ]
    w("reviews_2014.json", "".join(json.dumps(r) + "\n" for r in reviews))
    with gzip.open(os.path.join(OUT, "reviews_2014.json.gz"), "wt") as f:
        f.write("".join(json.dumps(r) + "\n" for r in reviews))
    data = bytearray(open(os.path.join(OUT, "reviews_2014.json.gz"), "rb").read())
    data[-6] ^= 0xFF  # inside the CRC-32 of the trailer
    open(os.path.join(OUT, "reviews_badcrc.json.gz"), "wb").write(bytes(data))
    w("reviews_unterminated.json", json.dumps(reviews[0]) + "\n" + '{"reviewerID": "A3", "asin": "B03", "reviewText": "no end}\n')
    w("reviews_missing_asin.json", json.dumps(reviews[0]) + "\n" + '{"reviewerID": "A3", "overall": 3}\n')
    w("meta_2014.json",
      "{'asin': 'B01', 'title': 'Girls Ballet Tutu Zebra Hot Pink', 'price': 3.17, 'salesRank': {'Toys & Games': 211836}, "
      "'brand': 'Coxlists', 'categories': [['Sports & Outdoors', 'Other Sports', 'Dance']], 'related': {'also_bought': ['B02']}}\n"
      "{'asin': 'B02', 'description': 'It\\'s a \"classic\".\\nWashable.', 'title': u'Caf\\xe9 set', 'categories': [['Toys'], ['Toys', 'Kitchen']], 'flag': True, 'none': None}\n")
    w("meta_2018.json", json.dumps({"asin": "B01", "title": "Tutu", "brand": "Coxlists", "category": ["Toys", "Dance"],
                                    "description": ["Pretty.", "Pink."]}) + "\n")

    w("interactions.csv", 'user,item,stars,when,comment\nu1,i1,5,10,"Loved it, really"\nu1,i2,3,11,"Line one\nline two"\nu2,i1,4,12,"He said ""wow"""\n')
    w("interactions.tsv", "user_id\titem_id\trating\ntom\tm1\t4\nann\tm1\t5\n")
    w("short.csv", "user,item,stars\nu1,i1,5\nu2,i2\n")
    w("bad_stars.csv", "user,item,stars\nu1,i1,5\nu2,i2,lots\n")
    w("open_quote.csv", 'user,item,comment\nu1,i1,"never closed\n')
    print("wrote", OUT)


if __name__ == "__main__":
    main()
