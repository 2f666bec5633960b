/* pt2canon.diff._fused: one pass over two float32 slices for every figure of the diff's weights.
 *
 * The reference is the numpy path, pt2canon.diff.tensors._part: this computes the same figures
 * in one pass instead of eight (subtract, abs, max, min, argmax, divide and two reductions), each
 * pair of elements touched once while it is in the CPU's cache. It is optional: pt2canon runs
 * without it, and tests/diff/test_fused.py checks that both give the same figures on generated
 * slices (zeros, signed zeros, subnormals, overflow to infinity, NaN and infinities, tolerances).
 *
 *     compare_f32(a, b, rtol, atol, exact) -> (differing, mismatched, max_abs, max_abs_at,
 *                                              max_rel, max_rel_at) | None
 *
 * a and b: C-contiguous buffers of native float32 (format 'f', at any byte offset) of one length;
 * anything else is a TypeError. Per element, in float32 arithmetic as numpy's:
 *     d = |b - a|, s = |a|; differing counts d > 0; mismatched counts d > s * rtol + atol (exact:
 *     = differing); rel = d / s, +inf where s == 0 < d, and no figure where both are 0.
 * max_abs and max_rel are the greatest d and rel, at the first index that has it (-1 where no
 * element differs; mismatched is then 0 whatever the limit, as numpy's early return gives).
 * None where some d is not finite (NaN or infinity in a or b, or b - a overflowing): the numpy
 * path's careful rule decides those. The GIL is released meanwhile.
 *
 * Built with -ffp-contract=off (no fused multiply-add: s * rtol + atol rounds twice, as numpy's
 * does); no fast-math option, so every operation is IEEE's, as numpy's ufuncs are (a build with
 * -ffast-math or -Ofast in CFLAGS stops at the #error below, and the package goes on without it).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#ifdef __FAST_MATH__
#error "pt2canon.diff._fused needs IEEE arithmetic: build it without -ffast-math or -Ofast"
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi" /* the vectors never cross a call: every helper is inlined */
#endif

#define LANES 8
#define BLOCK 4096 /* elements per block: the counts of each lane stay small, the block in L1 */

typedef float vf __attribute__((vector_size(4 * LANES)));
typedef int32_t vi __attribute__((vector_size(4 * LANES)));

typedef struct {
    vf md, mr;   /* greatest d, greatest rel, per lane */
    vi p, m, nf; /* -(count of d > 0), -(count not close), any d not finite (its exponent's bits) */
} acc;

/* Loads through memcpy: the buffers may sit at any byte offset (a slice of a bytearray, say). */
static inline __attribute__((always_inline)) vf load(const char *p)
{
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline float at(const char *p, Py_ssize_t i)
{
    float v;
    memcpy(&v, p + 4 * i, sizeof v);
    return v;
}

static inline int finite1(float d) /* by the exponent's bits, as the lanes test it */
{
    uint32_t u;
    memcpy(&u, &d, sizeof u);
    return (u & 0x7f800000u) != 0x7f800000u;
}

static inline __attribute__((always_inline)) vf pick(vi mask, vf yes, vf no) /* mask ? yes : no, lane by lane */
{
    return (vf)((mask & (vi)yes) | (~mask & (vi)no));
}

static inline float rel1(float d, float s) { return s == 0.0f ? (d > 0.0f ? (float)INFINITY : 0.0f) : d / s; }

static inline __attribute__((always_inline)) void block(const char *a, const char *b, Py_ssize_t n, float rtol,
                                                        float atol, const int exact, acc *o)
{
    const vf zero = {0}, one = zero + 1.0f, inf = zero + (float)INFINITY;
    const vi expo = (vi){0} + 0x7f800000;
    const vi absmask = (vi){0} + 0x7fffffff;
    vf md = zero, mr = zero;
    vi p = {0}, m = {0}, nf = {0};
    for (Py_ssize_t i = 0; i + LANES <= n; i += LANES) {
        vf x = load(a + 4 * i), y = load(b + 4 * i);
        vf d = (vf)((vi)(y - x) & absmask);
        vf s = (vf)((vi)x & absmask);
        nf |= ((vi)d & expo) == expo;
        md = pick(d > md, d, md);
        vi pos = d > zero;
        p += pos;
        vi za = s == zero;
        vf r = d / pick(za, one, s);
        r = pick(za, pick(pos, inf, zero), r);
        mr = pick(r > mr, r, mr);
        if (!exact)
            m += d > s * rtol + atol;
    }
    o->md = md, o->mr = mr, o->p = p, o->m = m, o->nf = nf;
}

#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && defined(__GLIBC__) /* ifunc */
#define CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CLONES
#endif

CLONES static void block_exact(const char *a, const char *b, Py_ssize_t n, acc *o) { block(a, b, n, 0, 0, 1, o); }

CLONES static void block_close(const char *a, const char *b, Py_ssize_t n, float rtol, float atol, acc *o)
{
    block(a, b, n, rtol, atol, 0, o);
}

typedef struct {
    long long differing, mismatched;
    Py_ssize_t abs_at, rel_at;
    float max_abs, max_rel;
} figures;

/* 0, or -1 where some difference is not finite. */
static int compare(const char *a, const char *b, Py_ssize_t n, float rtol, float atol, int exact, figures *f)
{
    Py_ssize_t abs_block = -1, rel_block = -1;
    memset(f, 0, sizeof *f);
    f->abs_at = f->rel_at = -1;
    for (Py_ssize_t start = 0; start < n; start += BLOCK) {
        Py_ssize_t k = n - start < BLOCK ? n - start : BLOCK, whole = k - k % LANES;
        const char *x = a + 4 * start, *y = b + 4 * start;
        acc o;
        float md = 0.0f, mr = 0.0f;
        long long p = 0, m = 0;
        if (exact)
            block_exact(x, y, whole, &o);
        else
            block_close(x, y, whole, rtol, atol, &o);
        for (int l = 0; l < LANES; l++) {
            if (o.nf[l])
                return -1;
            md = o.md[l] > md ? o.md[l] : md;
            mr = o.mr[l] > mr ? o.mr[l] : mr;
            p -= o.p[l];
            m -= o.m[l];
        }
        for (Py_ssize_t i = whole; i < k; i++) { /* the block's last elements, one by one */
            float d = fabsf(at(y, i) - at(x, i)), s = fabsf(at(x, i)), r;
            if (!finite1(d))
                return -1;
            r = rel1(d, s);
            md = d > md ? d : md;
            mr = r > mr ? r : mr;
            p += d > 0.0f;
            m += !exact && d > s * rtol + atol;
        }
        f->differing += p;
        f->mismatched += exact ? p : m;
        if (md > f->max_abs)
            f->max_abs = md, abs_block = start;
        if (mr > f->max_rel)
            f->max_rel = mr, rel_block = start;
    }
    /* The first index of each greatest: in the first block that has it, the first element. */
    for (Py_ssize_t i = abs_block; i >= 0 && i < n; i++)
        if (fabsf(at(b, i) - at(a, i)) == f->max_abs) {
            f->abs_at = i;
            break;
        }
    for (Py_ssize_t i = rel_block; i >= 0 && i < n; i++)
        if (rel1(fabsf(at(b, i) - at(a, i)), fabsf(at(a, i))) == f->max_rel) {
            f->rel_at = i;
            break;
        }
    if (!f->differing) /* nothing differs: no figure at all, as numpy's early return (a negative limit too) */
        f->mismatched = 0;
    return 0;
}

/* A C-contiguous buffer of native float32 ("f"), or -1 with TypeError naming the argument. */
static int f32_buffer(PyObject *obj, Py_buffer *view, const char *arg)
{
    const char *fmt;
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return -1;
    fmt = view->format ? view->format : "B";
    if (fmt[0] == '@' || fmt[0] == '=' || (PY_LITTLE_ENDIAN && fmt[0] == '<') || (!PY_LITTLE_ENDIAN && fmt[0] == '>'))
        fmt++;
    if (strcmp(fmt, "f") != 0 || view->itemsize != 4) {
        PyErr_Format(PyExc_TypeError, "compare_f32: %s has format %s; it must be native float32 (format 'f')", arg,
                     view->format ? view->format : "B");
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static PyObject *compare_f32(PyObject *self, PyObject *args)
{
    PyObject *oa, *ob;
    Py_buffer va, vb;
    float rtol, atol;
    int exact, bad;
    figures f;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOffp:compare_f32", &oa, &ob, &rtol, &atol, &exact))
        return NULL;
    if (f32_buffer(oa, &va, "a") < 0)
        return NULL;
    if (f32_buffer(ob, &vb, "b") < 0) {
        PyBuffer_Release(&va);
        return NULL;
    }
    if (va.len != vb.len) {
        PyErr_Format(PyExc_ValueError, "compare_f32: a has %zd bytes and b %zd; both must have the same number of float32",
                     va.len, vb.len);
        PyBuffer_Release(&va);
        PyBuffer_Release(&vb);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    bad = compare((const char *)va.buf, (const char *)vb.buf, va.len / 4, rtol, atol, exact, &f);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&va);
    PyBuffer_Release(&vb);
    if (bad)
        Py_RETURN_NONE;
    return Py_BuildValue("LLdndn", f.differing, f.mismatched, (double)f.max_abs, f.abs_at, (double)f.max_rel, f.rel_at);
}

static PyMethodDef methods[] = {
    {"compare_f32", compare_f32, METH_VARARGS,
     "compare_f32(a, b, rtol, atol, exact) -> (differing, mismatched, max_abs, max_abs_at, max_rel, max_rel_at) | None\n\n"
     "The figures of two slices of native float32 in one pass (see pt2canon.diff.tensors)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "_fused",
    .m_doc = "One-pass float32 comparison (pt2canon.diff.tensors).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__fused(void) { return PyModule_Create(&module); }
