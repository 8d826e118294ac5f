import Foundation
import Hummingbird
import Logging

/// One log line per request: method, path, status, milliseconds until the response head (a
/// streamed review goes on after it).
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let ms = (ContinuousClock.now - start).milliseconds
        context.logger.info("\(request.method) \(request.uri.path) \(response.status.code) \(String(format: "%.1f", ms)) ms")
        return response
    }
}

/// Bearer-token check for every endpoint but `/healthz`, `/readyz` and `/openapi.json` (a load balancer's
/// probe and the API description carry no data). The comparison takes the same time wherever the
/// first difference is.
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: [UInt8]
    static var open: Set<String> { ["/healthz", "/readyz", "/openapi.json"] }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !Self.open.contains(request.uri.path) else { return try await next(request, context) }
        guard let presented = Self.bearerToken(request.headers[.authorization] ?? ""), constantTimeEqual(presented, token) else {
            var response = try APIError(.unauthorized, "unauthorized", "a valid `Authorization: Bearer TOKEN` header is required",
                                        field: "Authorization").response(from: request, context: context)
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        }
        return try await next(request, context)
    }

    /// The credentials of an `Authorization` header of the Bearer scheme (the scheme's name in any
    /// case, RFC 9110 §11.1), nil for another scheme or none.
    ///
    ///     bearerToken("bearer  abc")  // Array("abc".utf8)
    static func bearerToken(_ header: String) -> [UInt8]? {
        let bytes = Array(header.utf8)
        guard bytes.count > 7, String(decoding: bytes[0..<6], as: UTF8.self).lowercased() == "bearer", bytes[6] == 0x20 else { return nil }
        let rest = bytes[7...].drop { $0 == 0x20 }
        return rest.isEmpty ? nil : Array(rest)
    }
}

/// For a server on loopback without a token: a request whose `Host` is not a loopback name or
/// address is refused (403), so that a web page reaching 127.0.0.1 through its own domain (DNS
/// rebinding) gets nothing.
struct LoopbackHostMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let authority = request.head.authority, !RecommendationServer.isLoopback(Self.hostPart(authority)) {
            throw APIError(.forbidden, "bad_host", "Host \"\(authority)\" is not a loopback name; this server answers only requests addressed to it on loopback",
                           field: "Host")
        }
        return try await next(request, context)
    }

    /// The host of a `Host` header value, without its port ("[::1]:8080" -> "[::1]").
    static func hostPart(_ authority: String) -> String {
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") { return String(authority[...close]) }
        if let colon = authority.lastIndex(of: ":"), authority.firstIndex(of: ":") == colon { return String(authority[..<colon]) }
        return authority
    }
}

/// Whether two byte strings are equal, in time that depends only on their lengths.
///
///     constantTimeEqual(Array("abc".utf8), Array("abd".utf8))  // false, after reading all three bytes
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    var diff = UInt8(a.count == b.count ? 0 : 1)
    let n = max(a.count, b.count)
    for i in 0..<n {
        let x = i < a.count ? a[i] : 0, y = i < b.count ? b[i] : 0
        diff |= x ^ y
    }
    return diff == 0
}

extension Duration {
    /// The duration in milliseconds.
    ///
    ///     Duration.microseconds(2500).milliseconds  // 2.5
    var milliseconds: Double { Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15 }
}
