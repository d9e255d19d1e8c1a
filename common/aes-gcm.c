/* SPDX-License-Identifier: MIT */
/*
 * AES-GCM encryption with VAES and VPCLMULQDQ (see aes-gcm.h).
 *
 * GHASH is computed as POLYVAL (RFC 8452), whose field elements are the blocks read as
 * little-endian 128-bit integers, the order in which the processor's carry-less multiply
 * works: by RFC 8452 appendix A, GHASH(H, X1..Xn) = ByteReverse(POLYVAL(mulX(ByteReverse(H)),
 * ByteReverse(X1)..ByteReverse(Xn))). POLYVAL's product a·b·x^-128 is a Montgomery
 * multiplication: the 256-bit carry-less product, its low half folded away in two 64-bit steps
 * by the constant of x^128 + x^127 + x^126 + x^121 + 1. The fold is linear, so the products
 * of sixteen blocks with sixteen powers of the key are summed first and folded once.
 *
 * Counter blocks are kept byte-reversed, so their 32-bit counter is the lowest lane of each
 * 128-bit block and advances with one vector add; they are reversed back before encryption.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "aes-gcm.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>

#define TARGET                                                                                     \
        __attribute__((target("aes,pclmul,sse4.1,avx2,avx512f,avx512bw,avx512vl,vaes,"             \
                              "vpclmulqdq")))

static bool usable;
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

/* CPUID leaves 1 and 7, and XCR0: the instructions, and the operating system saving the
 * AVX-512 registers (opmask, and both halves of the 32 512-bit registers). */
static bool cpu_has_all(void)
{
        unsigned a, b, c, d, lo, hi;

        if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_AES) || !(c & bit_PCLMUL) ||
            !(c & bit_OSXSAVE))
                return false;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        (void)hi;
        if ((lo & 0xe6) != 0xe6)
                return false;
        if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
                return false;
        return (b & bit_AVX512F) && (b & bit_AVX512BW) && (b & bit_AVX512VL) && (c & bit_VAES) &&
               (c & bit_VPCLMULQDQ);
}

static void probe(void)
{
        const char *env = getenv("SLUICE_AES_GCM");

        usable = cpu_has_all() && !(env && strcmp(env, "openssl") == 0);
}

bool aes_gcm_usable(void)
{
        (void)pthread_once(&probe_once, probe);
        return usable;
}

/* k ^ k<<32 ^ k<<64 ^ k<<96: each word of the next round key depends on those before it. */
TARGET static inline __m128i spread(__m128i k)
{
        __m128i t = _mm_slli_si128(k, 4);

        k = _mm_xor_si128(k, t);
        t = _mm_slli_si128(t, 4);
        k = _mm_xor_si128(k, t);
        t = _mm_slli_si128(t, 4);
        return _mm_xor_si128(k, t);
}

/* The next round key's mixing word: SubWord(RotWord(w)) of the given word of k (lane 3
 * for sel 0xff, SubWord alone from lane 2 for 0xaa), in every lane, XOR rcon. The instruction
 * takes its round constant as an immediate; XORing it in afterwards is the same, and lets
 * the schedule be a loop. */
#define MIX(k, sel, rcon)                                                                          \
        _mm_xor_si128(_mm_shuffle_epi32(_mm_aeskeygenassist_si128(k, 0), sel), _mm_set1_epi32(rcon))

/* FIPS 197 key expansion, 10 rounds for a 16-byte key, 14 for a 32-byte one. */
TARGET static void expand(__m128i r[15], const uint8_t *key, size_t key_len)
{
        static const int rcon[10] = {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x1b, 0x36};

        r[0] = _mm_loadu_si128((const __m128i *)key);
        if (key_len == 16) {
                for (int i = 1; i <= 10; i++)
                        r[i] = _mm_xor_si128(spread(r[i - 1]), MIX(r[i - 1], 0xff, rcon[i - 1]));
                return;
        }
        r[1] = _mm_loadu_si128((const __m128i *)(key + 16));
        for (int i = 2; i < 15; i += 2) {
                r[i] = _mm_xor_si128(spread(r[i - 2]), MIX(r[i - 1], 0xff, rcon[i / 2 - 1]));
                if (i + 1 < 15)
                        r[i + 1] = _mm_xor_si128(spread(r[i - 1]), MIX(r[i], 0xaa, 0));
        }
}

TARGET static inline __m128i aes_block(const __m128i *rk, unsigned rounds, __m128i x)
{
        x = _mm_xor_si128(x, rk[0]);
        for (unsigned i = 1; i < rounds; i++)
                x = _mm_aesenc_si128(x, rk[i]);
        return _mm_aesenclast_si128(x, rk[rounds]);
}

TARGET static inline __m128i bswap_mask(void)
{
        return _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}

/* (hi·x^128 + mid·x^64 + lo)·x^-128 mod the POLYVAL polynomial. */
TARGET static inline __m128i reduce(__m128i lo, __m128i mid, __m128i hi)
{
        const __m128i poly = _mm_set_epi64x((long long)0xc200000000000000ull, 1);
        __m128i t;

        lo = _mm_xor_si128(lo, _mm_slli_si128(mid, 8));
        hi = _mm_xor_si128(hi, _mm_srli_si128(mid, 8));
        t = _mm_clmulepi64_si128(lo, poly, 0x10);
        lo = _mm_xor_si128(_mm_shuffle_epi32(lo, 0x4e), t);
        t = _mm_clmulepi64_si128(lo, poly, 0x10);
        lo = _mm_xor_si128(_mm_shuffle_epi32(lo, 0x4e), t);
        return _mm_xor_si128(lo, hi);
}

/* POLYVAL's dot(a, b) = a·b·x^-128. */
TARGET static inline __m128i dot(__m128i a, __m128i b)
{
        __m128i mid =
            _mm_xor_si128(_mm_clmulepi64_si128(a, b, 0x01), _mm_clmulepi64_si128(a, b, 0x10));

        return reduce(_mm_clmulepi64_si128(a, b, 0x00), mid, _mm_clmulepi64_si128(a, b, 0x11));
}

/* mulX_POLYVAL: v·x, constant time. */
TARGET static __m128i mulx(__m128i v)
{
        uint64_t lo = (uint64_t)_mm_cvtsi128_si64(v), hi = (uint64_t)_mm_extract_epi64(v, 1);
        uint64_t carry = 0 - (hi >> 63);

        hi = hi << 1 | lo >> 63;
        lo <<= 1;
        hi ^= carry & 0xc200000000000000ull;
        lo ^= carry & 1;
        return _mm_set_epi64x((long long)hi, (long long)lo);
}

/*
 * Zero STACK_WIPE bytes of the stack below the caller's frame, where the function it called
 * just before kept its locals and the compiler's spills of them: round keys, H, E(K, J0).
 * The public functions run their work in a function of its own, then this at the same depth,
 * since C cannot name what the compiler spilled. Optimised, the work's frames take under
 * 2 KiB; unoptimised, every helper has a frame of its own, deeper than this reaches.
 */
#define STACK_WIPE 4096

__attribute__((noinline)) static void stack_wipe(void)
{
        uint8_t pad[STACK_WIPE];

        explicit_bzero(pad, sizeof(pad));
        __asm__ volatile("" : : "r"(pad) : "memory");
}

TARGET __attribute__((noinline)) static int key_init(struct aes_gcm_key *k, const uint8_t *key,
                                                     size_t key_len)
{
        __m128i rk[15], h, p;

        k->rounds = key_len == 16 ? 10 : 14;
        expand(rk, key, key_len);
        for (unsigned i = 0; i <= k->rounds; i++)
                _mm_storeu_si128((__m128i *)k->rk[i], rk[i]);
        h = aes_block(rk, k->rounds, _mm_setzero_si128());
        h = mulx(_mm_shuffle_epi8(h, bswap_mask()));
        p = h;
        for (unsigned i = 1; i <= 16; i++) {
                _mm_storeu_si128((__m128i *)k->hpow[16 - i], p);
                p = dot(p, h);
        }
        return 0;
}

int aes_gcm_key_init(struct aes_gcm_key *k, const uint8_t *key, size_t key_len)
{
        if (key_len != 16 && key_len != 32)
                return -1;
        (void)key_init(k, key, key_len);
        stack_wipe(); /* the schedule and H stay only in k */
        return 0;
}

void aes_gcm_key_wipe(struct aes_gcm_key *k)
{
        volatile uint8_t *p = (volatile uint8_t *)k;

        for (size_t i = 0; i < sizeof(*k); i++)
                p[i] = 0;
}

/* The lanes of a 512-bit register XORed into one. */
TARGET static inline __m128i fold4(__m512i z)
{
        __m256i t = _mm256_xor_si256(_mm512_castsi512_si256(z), _mm512_extracti64x4_epi64(z, 1));

        return _mm_xor_si128(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
}

struct state {
        __m128i rk[15];
        __m128i ctr; /* the next counter block, byte-reversed */
        __m128i s;   /* the hash so far, POLYVAL form */
        __m128i h1;  /* H^1 */
        unsigned rounds;
};

/* Four 64-byte lanes of blocks times four powers of H, summed into the unreduced product. */
#define MUL4(x, h)                                                                                 \
        do {                                                                                       \
                lo = _mm512_xor_si512(lo, _mm512_clmulepi64_epi128(x, h, 0x00));                   \
                hi = _mm512_xor_si512(hi, _mm512_clmulepi64_epi128(x, h, 0x11));                   \
                mid = _mm512_ternarylogic_epi64(mid, _mm512_clmulepi64_epi128(x, h, 0x01),         \
                                                _mm512_clmulepi64_epi128(x, h, 0x10), 0x96);       \
        } while (0)

/* Sixteen blocks: in[0..256) to out, hashed into *s. The four registers are named, not an
 * array, so that they stay in registers through the rounds. */
TARGET static inline void sixteen(const struct aes_gcm_key *k, const __m512i *rkz, unsigned rounds,
                                  __m128i *ctr, __m128i *s, const uint8_t *in, uint8_t *out)
{
        const __m512i bs = _mm512_broadcast_i32x4(bswap_mask());
        const __m512i inc = _mm512_set_epi32(0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0);
        const __m512i four = _mm512_set_epi32(0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 4);
        __m512i c0, c1, c2, c3, x0, x1, x2, x3, lo, mid, hi;

        c0 = _mm512_add_epi32(_mm512_broadcast_i32x4(*ctr), inc);
        c1 = _mm512_add_epi32(c0, four);
        c2 = _mm512_add_epi32(c1, four);
        c3 = _mm512_add_epi32(c2, four);
        *ctr = _mm_add_epi32(*ctr, _mm_set_epi32(0, 0, 0, 16));
        x0 = _mm512_xor_si512(_mm512_shuffle_epi8(c0, bs), rkz[0]);
        x1 = _mm512_xor_si512(_mm512_shuffle_epi8(c1, bs), rkz[0]);
        x2 = _mm512_xor_si512(_mm512_shuffle_epi8(c2, bs), rkz[0]);
        x3 = _mm512_xor_si512(_mm512_shuffle_epi8(c3, bs), rkz[0]);
        for (unsigned r = 1; r < rounds; r++) {
                x0 = _mm512_aesenc_epi128(x0, rkz[r]);
                x1 = _mm512_aesenc_epi128(x1, rkz[r]);
                x2 = _mm512_aesenc_epi128(x2, rkz[r]);
                x3 = _mm512_aesenc_epi128(x3, rkz[r]);
        }
        x0 = _mm512_xor_si512(_mm512_aesenclast_epi128(x0, rkz[rounds]), _mm512_loadu_si512(in));
        x1 = _mm512_xor_si512(_mm512_aesenclast_epi128(x1, rkz[rounds]),
                              _mm512_loadu_si512(in + 64));
        x2 = _mm512_xor_si512(_mm512_aesenclast_epi128(x2, rkz[rounds]),
                              _mm512_loadu_si512(in + 128));
        x3 = _mm512_xor_si512(_mm512_aesenclast_epi128(x3, rkz[rounds]),
                              _mm512_loadu_si512(in + 192));
        _mm512_storeu_si512(out, x0);
        _mm512_storeu_si512(out + 64, x1);
        _mm512_storeu_si512(out + 128, x2);
        _mm512_storeu_si512(out + 192, x3);

        /* (s ^ x0)·H^16 = s·H^16 ^ x0·H^16: the blocks' products do not wait for the hash
         * so far, which joins at the end. */
        lo = mid = hi = _mm512_setzero_si512();
        MUL4(_mm512_shuffle_epi8(x0, bs), _mm512_loadu_si512(k->hpow[0]));
        MUL4(_mm512_shuffle_epi8(x1, bs), _mm512_loadu_si512(k->hpow[4]));
        MUL4(_mm512_shuffle_epi8(x2, bs), _mm512_loadu_si512(k->hpow[8]));
        MUL4(_mm512_shuffle_epi8(x3, bs), _mm512_loadu_si512(k->hpow[12]));
        {
                __m128i h16 = _mm_loadu_si128((const __m128i *)k->hpow[0]);
                __m128i l = _mm_xor_si128(fold4(lo), _mm_clmulepi64_si128(*s, h16, 0x00));
                __m128i h = _mm_xor_si128(fold4(hi), _mm_clmulepi64_si128(*s, h16, 0x11));
                __m128i m = _mm_ternarylogic_epi64(fold4(mid), _mm_clmulepi64_si128(*s, h16, 0x01),
                                                   _mm_clmulepi64_si128(*s, h16, 0x10), 0x96);
                *s = reduce(l, m, h);
        }
}

/* One block of n <= 16 bytes: in to out, the ciphertext (zero-padded) hashed. */
TARGET static inline void one(struct state *st, const uint8_t *in, uint8_t *out, size_t n)
{
        uint8_t b[16] = {0};
        __m128i ks, c;

        ks = aes_block(st->rk, st->rounds, _mm_shuffle_epi8(st->ctr, bswap_mask()));
        st->ctr = _mm_add_epi32(st->ctr, _mm_set_epi32(0, 0, 0, 1));
        memcpy(b, in, n);
        c = _mm_xor_si128(_mm_loadu_si128((const __m128i *)b), ks);
        _mm_storeu_si128((__m128i *)b, c);
        memset(b + n, 0, sizeof(b) - n);
        memcpy(out, b, n);
        c = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)b), bswap_mask());
        st->s = dot(_mm_xor_si128(st->s, c), st->h1);
}

TARGET __attribute__((noinline)) static void
seal(const struct aes_gcm_key *k, const uint8_t nonce[AES_GCM_NONCE_LEN], const uint8_t *aad,
     size_t aad_len, const uint8_t *in, size_t len, const uint8_t *tail, size_t tail_len,
     uint8_t *out, uint8_t tag[AES_GCM_TAG_LEN])
{
        struct state st;
        __m512i rkz[15];
        uint8_t b[32] = {0};
        __m128i j0, ek0, t;
        size_t done = 0, rest;

        if (aad_len > AES_GCM_AAD_MAX || tail_len > AES_GCM_TAIL_MAX)
                abort(); /* a caller's bug: b below holds under two blocks */
        st.rounds = k->rounds;
        for (unsigned i = 0; i <= k->rounds; i++) {
                st.rk[i] = _mm_loadu_si128((const __m128i *)k->rk[i]);
                rkz[i] = _mm512_broadcast_i32x4(st.rk[i]);
        }
        st.h1 = _mm_loadu_si128((const __m128i *)k->hpow[15]);
        st.s = _mm_setzero_si128();

        /* J0 = nonce || 1; the data starts at counter 2. */
        memcpy(b, nonce, AES_GCM_NONCE_LEN);
        b[15] = 1;
        j0 = _mm_loadu_si128((const __m128i *)b);
        ek0 = aes_block(st.rk, st.rounds, j0);
        st.ctr = _mm_add_epi32(_mm_shuffle_epi8(j0, bswap_mask()), _mm_set_epi32(0, 0, 0, 1));

        if (aad_len) {
                memset(b, 0, 16);
                memcpy(b, aad, aad_len);
                t = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)b), bswap_mask());
                st.s = dot(t, st.h1);
        }
        if (len >= 256) {
                /* In locals for the loop: st's address goes to one(), so its fields would be
                 * stored and loaded again around every step. */
                __m128i ctr = st.ctr, s = st.s;
                for (; len - done >= 256; done += 256)
                        sixteen(k, rkz, st.rounds, &ctr, &s, in + done, out + done);
                st.ctr = ctr;
                st.s = s;
        }
        for (; len - done >= 16; done += 16)
                one(&st, in + done, out + done, 16);

        /* What is left of in, then the tail: under two blocks, gathered in b. */
        rest = len - done;
        if (rest)
                memcpy(b, in + done, rest);
        if (tail_len)
                memcpy(b + rest, tail, tail_len);
        rest += tail_len;
        for (size_t at = 0; at < rest; at += 16)
                one(&st, b + at, out + done + at, rest - at < 16 ? rest - at : 16);

        t = _mm_set_epi64x((long long)(aad_len * 8), (long long)((len + tail_len) * 8));
        st.s = dot(_mm_xor_si128(st.s, t), st.h1);
        t = _mm_xor_si128(_mm_shuffle_epi8(st.s, bswap_mask()), ek0);
        _mm_storeu_si128((__m128i *)tag, t);
}

void aes_gcm_seal(const struct aes_gcm_key *k, const uint8_t nonce[AES_GCM_NONCE_LEN],
                  const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t len,
                  const uint8_t *tail, size_t tail_len, uint8_t *out, uint8_t tag[AES_GCM_TAG_LEN])
{
        seal(k, nonce, aad, aad_len, in, len, tail, tail_len, out, tag);
        stack_wipe(); /* the round keys (as blocks and broadcast), H, E(K, J0), the last bytes */
}

#else /* not x86-64: OpenSSL seals everything */

bool aes_gcm_usable(void)
{
        return false;
}

int aes_gcm_key_init(struct aes_gcm_key *k, const uint8_t *key, size_t key_len)
{
        (void)k, (void)key, (void)key_len;
        return -1;
}

void aes_gcm_key_wipe(struct aes_gcm_key *k)
{
        memset(k, 0, sizeof(*k));
}

void aes_gcm_seal(const struct aes_gcm_key *k, const uint8_t nonce[AES_GCM_NONCE_LEN],
                  const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t len,
                  const uint8_t *tail, size_t tail_len, uint8_t *out, uint8_t tag[AES_GCM_TAG_LEN])
{
        (void)k, (void)nonce, (void)aad, (void)aad_len, (void)in, (void)len, (void)tail;
        (void)tail_len, (void)out, (void)tag;
        abort(); /* aes_gcm_usable() said no */
}

#endif
