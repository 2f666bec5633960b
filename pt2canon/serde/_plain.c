/* pt2canon.serde._plain: the schema checks' fast path, compiled.
 *
 * The reference is pt2canon/serde/plain.py: plain_node, plain_argument and plain_tensor_meta here
 * are transliterations of the functions there, statement by statement and in the same order (so
 * that even an exception raised by a strange key's __eq__ comes out of the same lookup). They
 * allocate nothing and hold a reference to every container while they look inside it. The
 * key sets and tag sets are not written here: plain.py hands its own frozensets to configure()
 * once, at import. tests/serde/test_plain_compiled.py checks that both give the same answer on
 * every part of real documents, edited ones, generated values and objects whose keys run code.
 *
 * One known difference, on the safe side: a scalar is one of the exact types str, int, float,
 * bool, None, where plain.py's `type(x) in _SCALARS` also admits a class whose metaclass makes it
 * equal to one of those. There the compiled answer is False (the full check then runs), never
 * True where the reference's is not.
 *
 *     configure(opaque_tags, list_tags, node_keys, tensor_meta_keys, max_values) -> None
 *     plain_node(obj) -> bool          plain_argument(obj) -> bool
 *     plain_tensor_meta(obj) -> bool
 *
 * Each predicate returns 1 (true), 0 (false) or -1 (an exception is set) inside; a Python bool
 * outside.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *opaque_tags, *list_tags, *node_keys, *tensor_meta_keys; /* frozensets */
static Py_ssize_t max_values = -1;                                       /* -1: not configured */

static PyObject *k_as_int, *k_as_expr, *k_expr_str, *k_as_name, *k_as_tensor, *k_name, *k_arg, *k_kind,
    *k_target, *k_inputs, *k_outputs, *k_metadata, *k_is_hop, *k_dtype, *k_sizes, *k_strides, *k_device,
    *k_requires_grad, *k_layout, *k_storage_offset, *k_as_sym_ints, *k_as_sym_int, *k_as_string;

/* type(x) in {str, int, float, bool, NoneType}: exact types, as a set of types tests them. */
static inline int scalar(PyObject *x) {
    return x == Py_None || PyUnicode_CheckExact(x) || PyLong_CheckExact(x) || PyFloat_CheckExact(x) ||
           PyBool_Check(x);
}

/* d.get(key): a new reference, NULL with no exception for a missing key, NULL with one for an error. */
static inline PyObject *get(PyObject *d, PyObject *key) {
    PyObject *v = PyDict_GetItemWithError(d, key);
    Py_XINCREF(v);
    return v;
}

/* type(d.get(key)) is str / int (1, 0, or -1 with an exception). */
static int get_is(PyObject *d, PyObject *key, int (*check)(PyObject *)) {
    PyObject *v = get(d, key);
    if (v == NULL) return PyErr_Occurred() ? -1 : 0;
    int r = check(v);
    Py_DECREF(v);
    return r;
}
static int is_str(PyObject *x) { return PyUnicode_CheckExact(x); }
static int is_int(PyObject *x) { return PyLong_CheckExact(x); }

/* d[key] for a key the key check found: KeyError where a strange key made the two disagree. */
static PyObject *item(PyObject *d, PyObject *key) {
    PyObject *v = get(d, key);
    if (v == NULL && !PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, key);
    return v;
}

/* _flat(d): every value a scalar or a dict of scalars. */
static int flat(PyObject *d) {
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    int r = 1;
    Py_INCREF(d);
    while (r == 1 && PyDict_Next(d, &pos, &k, &v)) {
        if (PyDict_CheckExact(v)) {
            Py_ssize_t p2 = 0;
            PyObject *k2, *x;
            Py_INCREF(v);
            while (PyDict_Next(v, &p2, &k2, &x)) {
                if (!scalar(x)) {
                    r = 0;
                    break;
                }
            }
            Py_DECREF(v);
        } else if (!scalar(v)) {
            r = 0;
        }
    }
    Py_DECREF(d);
    return r;
}

/* _dim(s): {"as_int": int} or {"as_expr": {"expr_str": str, ...flat}}. */
static int dim(PyObject *s) {
    if (!PyDict_CheckExact(s) || PyDict_GET_SIZE(s) != 1) return 0;
    int r = get_is(s, k_as_int, is_int);
    if (r != 0) return r;
    PyObject *e = get(s, k_as_expr);
    if (e == NULL) return PyErr_Occurred() ? -1 : 0;
    r = 0;
    if (PyDict_CheckExact(e)) {
        r = get_is(e, k_expr_str, is_str);
        if (r == 1) r = flat(e);
    }
    Py_DECREF(e);
    return r;
}

/* _fast_sym_int(s): {"as_int": int} or {"as_name": str}. */
static int fast_sym_int(PyObject *s) {
    if (!PyDict_CheckExact(s) || PyDict_GET_SIZE(s) != 1) return 0;
    int r = get_is(s, k_as_int, is_int);
    return r != 0 ? r : get_is(s, k_as_name, is_str);
}

/* Every key of d in the frozenset keys (d.keys() <= keys once the sizes are compared). */
static int keys_within(PyObject *d, PyObject *keys) {
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(d, &pos, &k, &v))
        if (!PyUnicode_CheckExact(k)) goto general; /* a hash or __eq__ of Python code: Python's operator */
    pos = 0;
    while (PyDict_Next(d, &pos, &k, &v)) { /* exact str keys: no Python code runs, the dict cannot change */
        int r = PySet_Contains(keys, k);
        if (r != 1) return r;
    }
    return 1;
general:;
    PyObject *view = PyObject_CallMethod(d, "keys", NULL);
    if (view == NULL) return -1;
    int r = PyObject_RichCompareBool(view, keys, Py_LE);
    Py_DECREF(view);
    return r;
}

/* Every element of the list a scalar, or a list of scalars (the list tags' values). */
static int scalar_lists(PyObject *value) {
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(value); i++) {
        PyObject *x = PyList_GET_ITEM(value, i);
        if (scalar(x)) continue;
        if (!PyList_CheckExact(x)) return 0;
        for (Py_ssize_t j = 0; j < PyList_GET_SIZE(x); j++)
            if (!scalar(PyList_GET_ITEM(x, j))) return 0;
    }
    return 1;
}

/* {"name": str} and nothing else: a tensor reference. */
static int tensor_ref(PyObject *t) {
    if (!PyDict_CheckExact(t) || PyDict_GET_SIZE(t) != 1) return 0;
    return get_is(t, k_name, is_str);
}

static int argument(PyObject *arg) {
    if (!PyDict_CheckExact(arg) || PyDict_GET_SIZE(arg) != 1) return 0;
    int r;
    PyObject *t = get(arg, k_as_tensor);
    if (t == NULL && PyErr_Occurred()) return -1;
    if (t != NULL && t != Py_None) {
        r = tensor_ref(t);
        Py_DECREF(t);
        return r;
    }
    Py_XDECREF(t);
    Py_ssize_t pos = 0;
    PyObject *tag, *value;
    if (PyDict_GET_SIZE(arg) > 1) { /* grown by a strange key's __eq__ */
        PyErr_SetString(PyExc_ValueError, "too many values to unpack (expected 1)");
        return -1;
    }
    if (!PyDict_Next(arg, &pos, &tag, &value)) { /* emptied by a strange key's __eq__ */
        PyErr_SetString(PyExc_ValueError, "not enough values to unpack (expected 1, got 0)");
        return -1;
    }
    Py_INCREF(tag);
    Py_INCREF(value);
    if ((r = PySequence_Contains(opaque_tags, tag)) != 0) {
        if (r == 1) r = scalar(value) || (PyDict_CheckExact(value) && flat(value));
    } else if ((r = PySequence_Contains(list_tags, tag)) != 0) {
        if (r == 1) r = PyList_CheckExact(value) && PyList_GET_SIZE(value) <= max_values && scalar_lists(value);
    } else if ((r = PyObject_RichCompareBool(tag, k_as_sym_ints, Py_EQ)) != 0) {
        if (r == 1) {
            r = PyList_CheckExact(value) && PyList_GET_SIZE(value) <= max_values;
            for (Py_ssize_t i = 0; r == 1 && i < PyList_GET_SIZE(value); i++) {
                PyObject *s = PyList_GET_ITEM(value, i);
                Py_INCREF(s);
                r = fast_sym_int(s);
                Py_DECREF(s);
            }
        }
    } else if ((r = PyObject_RichCompareBool(tag, k_as_sym_int, Py_EQ)) != 0) {
        if (r == 1) r = fast_sym_int(value);
    } else if ((r = PyObject_RichCompareBool(tag, k_as_string, Py_EQ)) != 0) {
        if (r == 1) r = PyUnicode_CheckExact(value);
    }
    Py_DECREF(tag);
    Py_DECREF(value);
    return r;
}

/* An output, or an input's argument: a plain tensor reference inline, else argument(). */
static int argument_or_ref(PyObject *a) {
    if (PyDict_CheckExact(a) && PyDict_GET_SIZE(a) == 1) {
        PyObject *t = get(a, k_as_tensor);
        if (t == NULL && PyErr_Occurred()) return -1;
        if (t != NULL && t != Py_None) {
            int r = tensor_ref(t);
            Py_DECREF(t);
            return r;
        }
        Py_XDECREF(t);
    }
    return argument(a);
}

static int named_argument(PyObject *inp) {
    if (!PyDict_CheckExact(inp)) return 0;
    int r = get_is(inp, k_name, is_str);
    if (r != 1) return r;
    PyObject *arg = get(inp, k_arg);
    if (arg == NULL) return PyErr_Occurred() ? -1 : 0;
    if (arg == Py_None) {
        r = 0;
        goto done;
    }
    PyObject *kind = get(inp, k_kind);
    if (kind == NULL) {
        if (PyErr_Occurred()) {
            r = -1;
            goto done;
        }
        r = PyDict_GET_SIZE(inp) == 2;
    } else {
        r = PyDict_GET_SIZE(inp) == 3 && scalar(kind);
        Py_DECREF(kind);
    }
    if (r == 1) r = argument_or_ref(arg);
done:
    Py_DECREF(arg);
    return r;
}

static int list_all(PyObject *list, int (*pred)(PyObject *)) {
    int r = 1;
    for (Py_ssize_t i = 0; r == 1 && i < PyList_GET_SIZE(list); i++) {
        PyObject *x = PyList_GET_ITEM(list, i);
        Py_INCREF(x);
        r = pred(x);
        Py_DECREF(x);
    }
    return r;
}

static int node_rest(PyObject *n, PyObject *ins, PyObject *outs) {
    if (!PyList_CheckExact(ins) || !PyList_CheckExact(outs) ||
        PyList_GET_SIZE(ins) + PyList_GET_SIZE(outs) > max_values)
        return 0;
    int r = list_all(ins, named_argument);
    if (r == 1) r = list_all(outs, argument_or_ref);
    if (r != 1) return r;
    PyObject *md = get(n, k_metadata), *name;
    if (md == NULL && PyErr_Occurred()) return -1;
    name = get(n, k_name); /* looked up before the metadata's type is tested, as in plain.py */
    if (name == NULL && PyErr_Occurred()) {
        Py_XDECREF(md);
        return -1;
    }
    if (md != NULL && !PyDict_CheckExact(md)) {
        Py_DECREF(md);
        Py_XDECREF(name);
        return 0;
    }
    if (md != NULL) {
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (r == 1 && PyDict_Next(md, &pos, &k, &v))
            if (!PyUnicode_CheckExact(v)) r = 0;
        Py_DECREF(md);
    }
    if (r == 1) r = name == NULL || name == Py_None || PyUnicode_CheckExact(name);
    Py_XDECREF(name);
    if (r != 1) return r;
    PyObject *hop = get(n, k_is_hop);
    if (hop == NULL) return PyErr_Occurred() ? -1 : 1; /* absent: None, a scalar */
    r = scalar(hop);
    Py_DECREF(hop);
    return r;
}

static int node(PyObject *n) {
    if (!PyDict_CheckExact(n)) return 0;
    int r = get_is(n, k_target, is_str);
    if (r != 1) return r;
    if (PyDict_GET_SIZE(n) > PySet_GET_SIZE(node_keys)) return 0;
    if ((r = keys_within(n, node_keys)) != 1) return r;
    PyObject *ins = get(n, k_inputs);
    if (ins == NULL && PyErr_Occurred()) return -1;
    PyObject *outs = get(n, k_outputs);
    if (outs == NULL && PyErr_Occurred()) {
        Py_XDECREF(ins);
        return -1;
    }
    r = ins != NULL && outs != NULL ? node_rest(n, ins, outs) : 0;
    Py_XDECREF(ins);
    Py_XDECREF(outs);
    return r;
}

/* (type(s) is dict and len(s) == 1 and type(s.get("as_int")) is int) or _dim(s) */
static int inline_dim(PyObject *s) {
    if (PyDict_CheckExact(s) && PyDict_GET_SIZE(s) == 1) {
        int r = get_is(s, k_as_int, is_int);
        if (r != 0) return r;
    }
    return dim(s);
}
static int dims(PyObject *list) { return list_all(list, inline_dim); }

/* The values are looked up in plain.py's order: sizes, strides, device and dtype first; requires_grad,
 * layout and storage_offset each only once the tests before it have passed. */
static int tensor_meta_rest(PyObject *meta) {
    enum { SIZES, STRIDES, DEVICE, DTYPE, REQUIRES_GRAD, LAYOUT, STORAGE_OFFSET, N };
    PyObject *keys[N] = {k_sizes, k_strides, k_device, k_dtype, k_requires_grad, k_layout, k_storage_offset};
    PyObject *v[N];
    int got = 0, r = -1;
#define FETCH(i) ((v[i] = item(meta, keys[i])) != NULL && ++got)
    if (!(FETCH(SIZES) && FETCH(STRIDES) && FETCH(DEVICE) && FETCH(DTYPE))) goto done;
    r = 0;
    if (!PyLong_CheckExact(v[DTYPE]) || !PyDict_CheckExact(v[DEVICE])) goto done;
    if (!FETCH(REQUIRES_GRAD)) goto failed;
    if (!scalar(v[REQUIRES_GRAD])) goto done;
    if (!FETCH(LAYOUT)) goto failed;
    PyObject *sizes = v[SIZES], *strides = v[STRIDES];
    if (!scalar(v[LAYOUT]) || !PyList_CheckExact(sizes) || !PyList_CheckExact(strides) ||
        PyList_GET_SIZE(sizes) > max_values || PyList_GET_SIZE(strides) > max_values || !flat(v[DEVICE]))
        goto done;
    if ((r = dims(sizes)) == 1 && (r = dims(strides)) == 1) r = FETCH(STORAGE_OFFSET) ? inline_dim(v[STORAGE_OFFSET]) : -1;
    goto done;
#undef FETCH
failed:
    r = -1;
done:
    for (int i = 0; i < got; i++) Py_DECREF(v[i]);
    return r;
}

static int tensor_meta(PyObject *meta) {
    if (!PyDict_CheckExact(meta) || PyDict_GET_SIZE(meta) != PySet_GET_SIZE(tensor_meta_keys)) return 0;
    int r = keys_within(meta, tensor_meta_keys);
    return r == 1 ? tensor_meta_rest(meta) : r;
}

static PyObject *answer(int r) {
    if (r < 0) return NULL;
    return PyBool_FromLong(r);
}

static int configured(void) {
    if (max_values >= 0) return 1;
    PyErr_SetString(PyExc_RuntimeError, "pt2canon.serde._plain: configure() was not called (plain.py calls it)");
    return 0;
}

#define PREDICATE(py_name, fn)                                                                                \
    static PyObject *py_name(PyObject *Py_UNUSED(module), PyObject *obj) {                                  \
        if (!configured()) return NULL;                                                                       \
        /* The sets stay alive through the call even if a strange key's __eq__ calls configure(). */         \
        PyObject *held[4] = {opaque_tags, list_tags, node_keys, tensor_meta_keys};                            \
        for (int i = 0; i < 4; i++) Py_INCREF(held[i]);                                                       \
        Py_INCREF(obj);                                                                                       \
        int r = fn(obj);                                                                                      \
        Py_DECREF(obj);                                                                                       \
        for (int i = 0; i < 4; i++) Py_DECREF(held[i]);                                                       \
        return answer(r);                                                                                     \
    }
PREDICATE(py_plain_node, node)
PREDICATE(py_plain_argument, argument)
PREDICATE(py_plain_tensor_meta, tensor_meta)

static PyObject *py_configure(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *sets[4];
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "O!O!O!O!n:configure", &PyFrozenSet_Type, &sets[0], &PyFrozenSet_Type, &sets[1],
                          &PyFrozenSet_Type, &sets[2], &PyFrozenSet_Type, &sets[3], &n))
        return NULL;
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "configure: max_values must be >= 0");
        return NULL;
    }
    PyObject **slots[4] = {&opaque_tags, &list_tags, &node_keys, &tensor_meta_keys};
    for (int i = 0; i < 4; i++) {
        Py_INCREF(sets[i]);
        Py_XSETREF(*slots[i], sets[i]);
    }
    max_values = n;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"configure", py_configure, METH_VARARGS, "configure(opaque_tags, list_tags, node_keys, tensor_meta_keys, max_values)"},
    {"plain_node", py_plain_node, METH_O, "plain_node(obj) -> bool: pt2canon.serde.plain.plain_node, compiled."},
    {"plain_argument", py_plain_argument, METH_O, "plain_argument(obj) -> bool: pt2canon.serde.plain.plain_argument, compiled."},
    {"plain_tensor_meta", py_plain_tensor_meta, METH_O,
     "plain_tensor_meta(obj) -> bool: pt2canon.serde.plain.plain_tensor_meta, compiled."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "pt2canon.serde._plain",
    .m_doc = "The schema checks' fast path, compiled (reference: pt2canon.serde.plain).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__plain(void) {
    struct {
        PyObject **slot;
        const char *text;
    } names[] = {
        {&k_as_int, "as_int"},         {&k_as_expr, "as_expr"},
        {&k_expr_str, "expr_str"},     {&k_as_name, "as_name"},
        {&k_as_tensor, "as_tensor"},   {&k_name, "name"},
        {&k_arg, "arg"},               {&k_kind, "kind"},
        {&k_target, "target"},         {&k_inputs, "inputs"},
        {&k_outputs, "outputs"},       {&k_metadata, "metadata"},
        {&k_is_hop, "is_hop_single_tensor_return"},
        {&k_dtype, "dtype"},           {&k_sizes, "sizes"},
        {&k_strides, "strides"},       {&k_device, "device"},
        {&k_requires_grad, "requires_grad"},
        {&k_layout, "layout"},         {&k_storage_offset, "storage_offset"},
        {&k_as_sym_ints, "as_sym_ints"}, {&k_as_sym_int, "as_sym_int"},
        {&k_as_string, "as_string"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if ((*names[i].slot = PyUnicode_InternFromString(names[i].text)) == NULL) return NULL;
    return PyModule_Create(&module);
}
