// A persistent thread pool for the decoding path's matrix-vector products (cquant.h).
//
// One job at a time: the caller publishes it by bumping `generation`; every helper that sees a new
// generation takes its share of the rows (maybe none) and counts itself done. A helper spins between jobs
// (a pause per check) for `spin_us`, then waits on a condition variable, so an idle process holds no
// core, and a decoding step's products, tens of microseconds apart, find their helpers running.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include "cquant.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
static inline void cpu_pause(void) { _mm_pause(); }
#else
static inline void cpu_pause(void) {}
#endif

enum { MAX_HELPERS = 63 };

typedef struct {
    int format, cols, rows, align, path, parts;
    const void *w;
    const signed char *qx;
    const float *scale;
    const int *qsum;
    const float *x;
    float *y;
} job_t;

static pthread_mutex_t callers = PTHREAD_MUTEX_INITIALIZER;  // one job at a time
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static job_t job;
static atomic_ulong generation;
static atomic_int pending;         // shares of the current job not finished yet
static atomic_int sleepers;        // helpers waiting on `wake`
static atomic_int spin_budget_us;  // how long a helper spins before it sleeps
static int started;                // helpers created (under `callers`)
static unsigned long born[MAX_HELPERS + 1];  // the generation each helper was created at

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

// Rows of share `part` of `parts`, whole multiples of `align` but the last.
static void share(const job_t *j, int part, int *lo, int *hi) {
    int units = (j->rows + j->align - 1) / j->align;
    int per = (units + j->parts - 1) / j->parts;
    int a = part * per * j->align, b = (part + 1) * per * j->align;
    *lo = a < j->rows ? a : j->rows;
    *hi = b < j->rows ? b : j->rows;
}

static void run_share(int part) {
    int lo, hi;
    share(&job, part, &lo, &hi);
    if (lo < hi)
        cquant_matvec(job.format, job.w, job.cols, lo, hi, job.qx, job.scale, job.qsum, job.x, job.y + lo, job.path);
}

static void *helper(void *arg) {
    int index = (int)(long)arg;  // share index: the caller takes share 0
    // The generation when it was made: a job posted before the thread first runs is still its to do.
    unsigned long seen = born[index];
    for (;;) {
        // Spin for the budget, then sleep until a job is posted.
        double until = now_us() + atomic_load_explicit(&spin_budget_us, memory_order_relaxed);
        unsigned long g;
        int checks = 0;
        while ((g = atomic_load_explicit(&generation, memory_order_acquire)) == seen) {
            cpu_pause();
            if (++checks % 256 == 0 && now_us() > until) {
                pthread_mutex_lock(&sleep_lock);
                atomic_fetch_add(&sleepers, 1);
                // seq_cst against the caller's bump-then-read of `sleepers`: one of the two sees the other.
                while ((g = atomic_load(&generation)) == seen) pthread_cond_wait(&wake, &sleep_lock);
                atomic_fetch_sub(&sleepers, 1);
                pthread_mutex_unlock(&sleep_lock);
                break;
            }
        }
        seen = g;
        // Every helper answers every job (a share past `parts` is empty): the caller waits for all,
        // so none can still be reading `job` when the next one is written.
        if (index < job.parts) run_share(index);
        atomic_fetch_sub_explicit(&pending, 1, memory_order_release);
    }
    return 0;
}

void cquant_matvec_pool(int threads, int spin_us, int align, int format, const void *w, int cols, int rows,
                        const signed char *qx, const float *scale, const int *qsum, const float *x, float *y, int path) {
    if (align < 1) align = 1;
    int units = (rows + align - 1) / align;
    int parts = threads < units ? threads : units;
    if (parts > MAX_HELPERS + 1) parts = MAX_HELPERS + 1;
    if (parts <= 1) {
        cquant_matvec(format, w, cols, 0, rows, qx, scale, qsum, x, y, path);
        return;
    }
    pthread_mutex_lock(&callers);
    atomic_store(&spin_budget_us, spin_us);
    while (started < parts - 1) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        born[started + 1] = atomic_load(&generation);
        if (pthread_create(&t, &attr, helper, (void *)(long)(started + 1)) != 0) { pthread_attr_destroy(&attr); break; }
        pthread_attr_destroy(&attr);
        started++;
    }
    if (parts > started + 1) parts = started + 1;  // fewer helpers could be made: fewer shares
    job = (job_t){format, cols, rows, align, path, parts, w, qx, scale, qsum, x, y};
    atomic_store_explicit(&pending, started, memory_order_relaxed);
    atomic_fetch_add(&generation, 1);  // seq_cst: see the helper's sleep path
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_broadcast(&wake);
        pthread_mutex_unlock(&sleep_lock);
    }
    run_share(0);
    while (atomic_load_explicit(&pending, memory_order_acquire) > 0) cpu_pause();
    pthread_mutex_unlock(&callers);
}
