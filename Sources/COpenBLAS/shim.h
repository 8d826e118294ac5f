#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

/// 1 when the CPU and the OS support the AVX-512 subsets OpenBLAS's SkylakeX kernels use
/// (F, DQ, BW, VL; opmask and ZMM state enabled in XCR0), else 0 (always 0 off x86).
static inline int cllm4rec_cpu_has_avx512(void) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE)) return 0;
    unsigned int xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    if ((xcr0_lo & 0xE6) != 0xE6) return 0;  // SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    const unsigned int needed = (1u << 16) | (1u << 17) | (1u << 30) | (1u << 31);  // F, DQ, BW, VL
    return (b & needed) == needed;
#else
    return 0;
#endif
}

/// 1 when the CPU's vendor string is "GenuineIntel" (MKL runs its fast code paths only there), else 0.
static inline int cllm4rec_cpu_is_intel(void) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned int a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return 0;
    // The vendor string is EBX, EDX, ECX: "Genu" "ineI" "ntel".
    return b == 0x756e6547u && d == 0x49656e69u && c == 0x6c65746eu;
#else
    return 0;
#endif
}
