/* pt2canon.canon._emit: the canonical JSON of a graph's op nodes, compiled.
 *
 * The reference is _NodeEmitter.node() in pt2canon/canon/emit.py: emit_nodes() here runs it,
 * statement by statement and in the same order, for each node id of the canonical order, and
 * returns the list of node dicts it gives. A node is written here only where it is plain parsed
 * JSON: its containers exact lists and exact dicts whose keys are all exact str (a lookup in one
 * then runs no Python code, and looking again gives the same answer), each tensor argument's
 * "as_tensor" an exact dict, a plain tensor's name an exact str, its id an exact int in range.
 * Any other node goes to node() itself. What is not a plain tensor calls emit.py's own functions
 * (rename_arg for an argument, _rename_value_args for outputs that are not one plain tensor, the
 * profile's node_metadata). A renamed tensor argument that the _TensorArgs dict lacks is made
 * here as its __missing__ makes it, {"as_tensor": {"name": names[old]}} stored under the old
 * name, where its names is an exact dict, and by __missing__ itself otherwise: nothing in the
 * result is made up here but containers, those arguments and the node names "n<k>".
 * tests/canon/test_emit_compiled.py checks that the documents are equal, and share the same
 * objects, on every graph of the test corpus and on generated and edited programs, and that
 * errors are the same.
 *
 * Known difference: a node whose containers are changed while it is written (by a names
 * mapping or a profile whose code edits the graph) raises RuntimeError here, where node()
 * would go on with the changed containers. Nothing pt2canon passes runs such code.
 *
 *     configure(ref_kinds, rename_arg, rename_value_args, tensor_args) -> None
 *     emit_nodes(emitter, order) -> list
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *ref_kinds, *rename_arg_fn, *rename_value_args_fn, *tensor_args_cls; /* emit.py's own */
static int configured = 0;

static PyObject *k_inputs, *k_outputs, *k_arg, *k_as_graph, *k_as_tensor, *k_name, *k_metadata, *a_nodes,
    *a_n_in, *a_names, *a_tensor_args, *a_node_names, *a_metadata, *a_drop_metadata, *m_node, *m_getitem,
    *dict_getitem; /* dict.__getitem__ */

/* The plain tensor's name of a tensor argument t (an exact dict of one key), borrowed; NULL
 * where t is not one (no exception) or on an error. The lookup can run a stored key's __eq__: the
 * caller holds t, and takes a reference to the name before anything else runs. */
static PyObject *plain_name(PyObject *t) {
    if (!PyDict_CheckExact(t) || PyDict_GET_SIZE(t) != 1) return NULL;
    PyObject *name = PyDict_GetItemWithError(t, k_name);
    return name != NULL && PyUnicode_CheckExact(name) ? name : NULL;
}

/* Whether every key of the exact dict d is an exact str. */
static int str_keys(PyObject *d) {
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(d, &pos, &key, &value))
        if (!PyUnicode_CheckExact(key)) return 0;
    return 1;
}

/* For fast_node(): 1 where the tensor argument t (held by the caller) is absent, None or an exact
 * dict, and has a plain name where `named` says it must; 0 where not; -1 on an error. */
static int plain_tensor(PyObject *t, int named) {
    if (t == NULL || t == Py_None) return 1;
    if (!PyDict_CheckExact(t) || !str_keys(t)) return 0;
    if (!named || PyDict_GET_SIZE(t) != 1) return 1;
    Py_INCREF(t);
    int r = plain_name(t) != NULL ? 1 : (PyErr_Occurred() ? -1 : 0);
    Py_DECREF(t);
    return r;
}

/* d.get(key) as a new reference, or NULL: absent (no exception) or an error. */
static PyObject *get_ref(PyObject *d, PyObject *key) {
    PyObject *v = PyDict_GetItemWithError(d, key);
    return v == NULL ? NULL : Py_NewRef(v);
}

/* Whether emit_nodes() writes node n (1), leaves it to node() (0), or an error (-1). The lookups
 * can run Python code (a stored key's __eq__) that edits the node: every container is held while
 * it is read, and one_node() checks again each one it fetches again. */
static int fast_node(PyObject *n) {
    if (!PyDict_CheckExact(n) || !str_keys(n)) return 0;
    int r = 0;
    PyObject *ins = NULL, *outs = NULL, *na = NULL, *arg = NULL, *o = NULL, *t = NULL;
    if ((ins = get_ref(n, k_inputs)) == NULL || (outs = get_ref(n, k_outputs)) == NULL) goto done;
    if (!PyList_CheckExact(ins) || !PyList_CheckExact(outs)) goto done;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(ins); i++) {
        na = Py_NewRef(PyList_GET_ITEM(ins, i));
        if (!PyDict_CheckExact(na) || !str_keys(na) || (arg = get_ref(na, k_arg)) == NULL || !PyDict_CheckExact(arg) ||
            !str_keys(arg))
            goto done;
        t = PyDict_GetItemWithError(arg, k_as_tensor);
        if (t == NULL && PyErr_Occurred()) goto done;
        Py_XINCREF(t);
        r = plain_tensor(t, PyDict_GET_SIZE(arg) == 1);
        if (r <= 0) goto done;
        r = 0;
        Py_CLEAR(t);
        Py_CLEAR(arg);
        Py_CLEAR(na);
    }
    if (PyList_GET_SIZE(outs) == 1) {
        o = Py_NewRef(PyList_GET_ITEM(outs, 0));
        if (!PyDict_CheckExact(o) || !str_keys(o)) goto done;
        if (PyDict_GET_SIZE(o) == 1) {
            t = PyDict_GetItemWithError(o, k_as_tensor);
            if (t == NULL && PyErr_Occurred()) goto done;
            Py_XINCREF(t);
            r = plain_tensor(t, 1);
            if (r <= 0) goto done;
        }
    }
    r = 1;
done:
    if (r == 0 && PyErr_Occurred()) r = -1;
    Py_XDECREF(ins);
    Py_XDECREF(outs);
    Py_XDECREF(na);
    Py_XDECREF(arg);
    Py_XDECREF(o);
    Py_XDECREF(t);
    return r;
}

typedef struct {
    PyObject *names, *tensor_args, *metadata; /* metadata: node_metadata, or None */
    PyObject *node_names;                     /* emitter.node_names: its truth is taken per node, as node() takes it */
    PyObject *ref_kinds, *rename_arg, *rename_value_args; /* configure()'s, held while the call runs */
    PyObject *missing_names;                  /* tensor_args.names where __missing__ is made here, else NULL */
    int plain_subscript;                      /* tensor_args[...] is dict's own (then __missing__) */
    int drop_metadata;
} State;

/* tensor_args[name] as a new reference: the dict's entry, else what its __missing__ makes. Where
 * tensor_args is a _TensorArgs whose names is an exact dict, a missing entry is made here as
 * __missing__ makes it: {"as_tensor": {"name": names[name]}}, stored under name. */
static PyObject *tensor_arg(State *st, PyObject *name) {
    if (!st->plain_subscript) return PyObject_GetItem(st->tensor_args, name);
    PyObject *v = PyDict_GetItemWithError(st->tensor_args, name);
    if (v != NULL) return Py_NewRef(v);
    if (PyErr_Occurred()) return NULL;
    if (st->missing_names == NULL) return PyObject_GetItem(st->tensor_args, name);
    PyObject *renamed = PyDict_GetItemWithError(st->missing_names, name);
    if (renamed == NULL) {
        if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, name);
        return NULL;
    }
    Py_INCREF(renamed); /* PyDict_New can run the GC, whose finalizers can drop the entry */
    PyObject *inner = PyDict_New(), *arg = NULL;
    if (inner == NULL || PyDict_SetItem(inner, k_name, renamed) < 0) goto fail;
    arg = PyDict_New();
    if (arg == NULL || PyDict_SetItem(arg, k_as_tensor, inner) < 0 || PyDict_SetItem(st->tensor_args, name, arg) < 0)
        goto fail;
    Py_DECREF(renamed);
    Py_DECREF(inner);
    return arg;
fail:
    Py_DECREF(renamed);
    Py_XDECREF(inner);
    Py_XDECREF(arg);
    return NULL;
}

/* "n<k>" */
static PyObject *node_name(Py_ssize_t k) {
    char text[24], *p = text + sizeof text;
    size_t u = (size_t)k;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    *--p = 'n';
    return PyUnicode_FromStringAndSize(p, text + sizeof text - p);
}

/* {**d, key: value} (d an exact dict that has key: the key keeps its place). */
static PyObject *with_item(PyObject *d, PyObject *key, PyObject *value) {
    PyObject *c = PyDict_Copy(d);
    if (c != NULL && PyDict_SetItem(c, key, value) < 0) Py_CLEAR(c);
    return c;
}

static PyObject *changed(Py_ssize_t k) {
    PyErr_Format(PyExc_RuntimeError, "pt2canon.canon._emit: node %zd of the order changed while it was written", k);
    return NULL;
}

/* One input entry na of a fast node: what node() appends for it (a new reference). */
static PyObject *input_entry(State *st, PyObject *na, Py_ssize_t k) {
    if (!PyDict_CheckExact(na)) return changed(k);
    PyObject *arg = PyDict_GetItemWithError(na, k_arg);
    if (arg == NULL) return PyErr_Occurred() ? NULL : changed(k);
    if (!PyDict_CheckExact(arg)) return changed(k);
    Py_INCREF(arg);
    PyObject *out = NULL, *t = PyDict_GetItemWithError(arg, k_as_tensor);
    if (t == NULL && PyErr_Occurred()) goto done;
    if (t != NULL && t != Py_None && PyDict_GET_SIZE(arg) == 1) {
        if (!PyDict_CheckExact(t)) {
            changed(k);
            goto done;
        }
        if (PyDict_GET_SIZE(t) == 1) { /* a plain tensor: {**na, "arg": tensor_args[t["name"]]} */
            /* Python copies na first (BUILD_MAP, DICT_UPDATE), then looks the name up: code that
             * lookup runs (a names mapping, __missing__) does not change the copy. */
            Py_INCREF(t);
            PyObject *copy = PyDict_Copy(na), *name = NULL, *ta = NULL;
            if (copy != NULL) {
                name = plain_name(t);
                Py_XINCREF(name);
                if (name == NULL && !PyErr_Occurred()) changed(k);
            }
            Py_DECREF(t);
            if (name != NULL) {
                ta = tensor_arg(st, name);
                Py_DECREF(name);
            }
            if (ta != NULL && PyDict_SetItem(copy, k_arg, ta) == 0) out = Py_NewRef(copy);
            Py_XDECREF(ta);
            Py_XDECREF(copy);
            goto done;
        }
    }
    /* renamed = arg if "as_graph" in arg else rename_arg(arg, names) */
    int r = PyDict_Contains(arg, k_as_graph);
    if (r < 0) goto done;
    PyObject *renamed;
    if (r) {
        renamed = Py_NewRef(arg);
    } else {
        /* rename_arg's first test (a constant is itself), here only for an exact str tag: the test
         * then runs no code, where a key's __eq__ would run again in rename_arg */
        r = 1;
        if (PyDict_GET_SIZE(arg) == 1) {
            Py_ssize_t pos = 0;
            PyObject *tag, *val;
            PyDict_Next(arg, &pos, &tag, &val);
            if (PyUnicode_CheckExact(tag)) {
                r = PySet_Contains(st->ref_kinds, tag);
                if (r < 0) goto done;
            }
        }
        renamed = r ? PyObject_CallFunctionObjArgs(st->rename_arg, arg, st->names, NULL) : Py_NewRef(arg);
    }
    if (renamed == NULL) goto done;
    out = renamed == arg ? Py_NewRef(na) : with_item(na, k_arg, renamed);
    Py_DECREF(renamed);
done:
    Py_DECREF(arg);
    return out;
}

/* The outputs of a fast node: [tensor_args[name]] for one plain tensor, else _rename_value_args. */
static PyObject *output_list(State *st, PyObject *outs, Py_ssize_t k) {
    if (PyList_GET_SIZE(outs) == 1) {
        PyObject *o = Py_NewRef(PyList_GET_ITEM(outs, 0)), *t = NULL, *name = NULL;
        int plain = 0;
        if (!PyDict_CheckExact(o)) {
            Py_DECREF(o);
            return changed(k);
        }
        if (PyDict_GET_SIZE(o) == 1) {
            t = PyDict_GetItemWithError(o, k_as_tensor);
            Py_XINCREF(t);
        }
        if (t != NULL && t != Py_None) {
            if (!PyDict_CheckExact(t)) {
                changed(k);
            } else if (PyDict_GET_SIZE(t) == 1) {
                plain = 1;
                name = plain_name(t);
                Py_XINCREF(name);
                if (name == NULL && !PyErr_Occurred()) changed(k);
            }
        }
        Py_XDECREF(t);
        Py_DECREF(o);
        if (PyErr_Occurred()) {
            Py_XDECREF(name);
            return NULL;
        }
        if (plain) {
            PyObject *ta = tensor_arg(st, name);
            Py_DECREF(name);
            if (ta == NULL) return NULL;
            PyObject *list = PyList_New(1);
            if (list == NULL) {
                Py_DECREF(ta);
                return NULL;
            }
            PyList_SET_ITEM(list, 0, ta);
            return list;
        }
    }
    return PyObject_CallFunctionObjArgs(st->rename_value_args, outs, st->names, st->tensor_args, NULL);
}

/* node() for a fast node n, the k-th of the order (a new reference). */
static PyObject *one_node(State *st, PyObject *n, Py_ssize_t k) {
    PyObject *ins = NULL, *outs = NULL, *new_ins = NULL, *new_outs = NULL, *node = NULL, *result = NULL;
    int named;
    ins = PyDict_GetItemWithError(n, k_inputs);
    if (ins == NULL || !PyList_CheckExact(ins)) {
        if (!PyErr_Occurred()) changed(k);
        return NULL;
    }
    Py_INCREF(ins);
    new_ins = PyList_New(0);
    if (new_ins == NULL) goto done;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(ins); i++) {
        PyObject *na = Py_NewRef(PyList_GET_ITEM(ins, i));
        PyObject *entry = input_entry(st, na, k);
        Py_DECREF(na);
        if (entry == NULL) goto done;
        int r = PyList_Append(new_ins, entry);
        Py_DECREF(entry);
        if (r < 0) goto done;
    }
    outs = PyDict_GetItemWithError(n, k_outputs);
    if (outs == NULL || !PyList_CheckExact(outs)) {
        if (!PyErr_Occurred()) changed(k);
        outs = NULL;
        goto done;
    }
    Py_INCREF(outs);
    new_outs = output_list(st, outs, k);
    if (new_outs == NULL) goto done;
    node = PyDict_Copy(n); /* {**n, "inputs": ins, "outputs": new_outs} */
    if (node == NULL || PyDict_SetItem(node, k_inputs, new_ins) < 0 || PyDict_SetItem(node, k_outputs, new_outs) < 0)
        goto done;
    named = PyObject_IsTrue(st->node_names); /* self.node_names and "name" in n */
    if (named < 0) goto done;
    if (named) {
        int r = PyDict_Contains(n, k_name);
        if (r < 0) goto done;
        if (r) {
            PyObject *name = node_name(k);
            if (name == NULL) goto done;
            r = PyDict_SetItem(node, k_name, name);
            Py_DECREF(name);
            if (r < 0) goto done;
        }
    }
    if (st->metadata != Py_None) {
        PyObject *md = PyDict_GetItemWithError(n, k_metadata);
        if (md == NULL && PyErr_Occurred()) goto done;
        if (md != NULL && md != Py_None) {
            PyObject *kept;
            if (st->drop_metadata) {
                kept = PyDict_New();
            } else {
                Py_INCREF(md);
                kept = PyObject_CallOneArg(st->metadata, md);
                Py_DECREF(md);
            }
            if (kept == NULL) goto done;
            int r = PyDict_SetItem(node, k_metadata, kept);
            Py_DECREF(kept);
            if (r < 0) goto done;
        }
    }
    result = Py_NewRef(node);
done:
    Py_XDECREF(ins);
    Py_XDECREF(outs);
    Py_XDECREF(new_ins);
    Py_XDECREF(new_outs);
    Py_XDECREF(node);
    return result;
}

static PyObject *py_emit_nodes(PyObject *self, PyObject *const *argv, Py_ssize_t argc) {
    (void)self;
    if (argc != 2) {
        PyErr_Format(PyExc_TypeError, "emit_nodes() takes 2 arguments (%zd given)", argc);
        return NULL;
    }
    if (!configured) {
        PyErr_SetString(PyExc_RuntimeError, "pt2canon.canon._emit: emit_nodes() before configure()");
        return NULL;
    }
    PyObject *emitter = argv[0], *order = argv[1];
    if (!PyList_CheckExact(order)) {
        PyErr_SetString(PyExc_TypeError, "emit_nodes(): order is a list");
        return NULL;
    }
    State st = {NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0};
    PyObject *nodes = NULL, *n_in_obj = NULL, *node_fn = NULL, *getitem = NULL, *flag = NULL, *out = NULL,
             *result = NULL;
    Py_ssize_t n_in = 0;
    nodes = PyObject_GetAttr(emitter, a_nodes);
    if (nodes == NULL) goto done;
    if (!PyList_CheckExact(nodes)) {
        PyErr_SetString(PyExc_TypeError, "emit_nodes(): emitter.nodes is a list");
        goto done;
    }
    n_in_obj = PyObject_GetAttr(emitter, a_n_in);
    if (n_in_obj == NULL) goto done;
    n_in = PyLong_AsSsize_t(n_in_obj);
    if (n_in == -1 && PyErr_Occurred()) goto done;
    st.names = PyObject_GetAttr(emitter, a_names);
    st.tensor_args = st.names ? PyObject_GetAttr(emitter, a_tensor_args) : NULL;
    st.metadata = st.tensor_args ? PyObject_GetAttr(emitter, a_metadata) : NULL;
    node_fn = st.metadata ? PyObject_GetAttr(emitter, m_node) : NULL;
    if (node_fn == NULL) goto done;
    if (!PyDict_Check(st.tensor_args)) {
        PyErr_SetString(PyExc_TypeError, "emit_nodes(): emitter.tensor_args is a dict");
        goto done;
    }
    /* A dict subclass's subscript slot always dispatches to its __getitem__ (dict's is a method,
     * not a slot wrapper): the entries are read here directly only where that is dict's own. */
    getitem = PyObject_GetAttr((PyObject *)Py_TYPE(st.tensor_args), m_getitem);
    if (getitem == NULL) goto done;
    st.plain_subscript = getitem == dict_getitem;
    if (st.plain_subscript && (PyObject *)Py_TYPE(st.tensor_args) == tensor_args_cls) {
        PyObject *tnames = PyObject_GetAttr(st.tensor_args, a_names);
        if (tnames == NULL) goto done;
        if (PyDict_CheckExact(tnames))
            st.missing_names = tnames;
        else
            Py_DECREF(tnames);
    }
    st.node_names = PyObject_GetAttr(emitter, a_node_names);
    if (st.node_names == NULL) goto done;
    st.ref_kinds = Py_NewRef(ref_kinds); /* configure() run from a callback frees none of them */
    st.rename_arg = Py_NewRef(rename_arg_fn);
    st.rename_value_args = Py_NewRef(rename_value_args_fn);
    flag = PyObject_GetAttr(emitter, a_drop_metadata);
    if (flag == NULL || (st.drop_metadata = PyObject_IsTrue(flag)) < 0) goto done;
    out = PyList_New(0);
    if (out == NULL) goto done;
    Py_INCREF(order); /* held while the callbacks run */
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(order); k++) {
        PyObject *nid = Py_NewRef(PyList_GET_ITEM(order, k)), *n = NULL, *node = NULL;
        int r = 0;
        if (PyLong_CheckExact(nid)) {
            int overflow = 0;
            long long j = PyLong_AsLongLongAndOverflow(nid, &overflow);
            if (!overflow && !(j == -1 && PyErr_Occurred()) && n_in >= 0 && j >= n_in) {
                j -= n_in;
                if (j < PyList_GET_SIZE(nodes)) {
                    n = Py_NewRef(PyList_GET_ITEM(nodes, (Py_ssize_t)j));
                    r = fast_node(n);
                }
            }
        }
        if (r > 0) {
            node = one_node(&st, n, k);
        } else if (r == 0 && !PyErr_Occurred()) {
            PyObject *kk = PyLong_FromSsize_t(k);
            node = kk ? PyObject_CallFunctionObjArgs(node_fn, kk, nid, NULL) : NULL;
            Py_XDECREF(kk);
        }
        Py_XDECREF(n);
        Py_DECREF(nid);
        if (node == NULL || PyList_Append(out, node) < 0) {
            Py_XDECREF(node);
            Py_DECREF(order);
            goto done;
        }
        Py_DECREF(node);
    }
    Py_DECREF(order);
    result = Py_NewRef(out);
done:
    Py_XDECREF(nodes);
    Py_XDECREF(n_in_obj);
    Py_XDECREF(st.names);
    Py_XDECREF(st.tensor_args);
    Py_XDECREF(st.metadata);
    Py_XDECREF(st.missing_names);
    Py_XDECREF(st.node_names);
    Py_XDECREF(st.ref_kinds);
    Py_XDECREF(st.rename_arg);
    Py_XDECREF(st.rename_value_args);
    Py_XDECREF(node_fn);
    Py_XDECREF(getitem);
    Py_XDECREF(flag);
    Py_XDECREF(out);
    return result;
}

static PyObject *py_configure(PyObject *self, PyObject *const *argv, Py_ssize_t argc) {
    (void)self;
    if (argc != 4) {
        PyErr_Format(PyExc_TypeError, "configure() takes 4 arguments (%zd given)", argc);
        return NULL;
    }
    if (!PyFrozenSet_CheckExact(argv[0]) || !PyCallable_Check(argv[1]) || !PyCallable_Check(argv[2]) ||
        !PyType_Check(argv[3]) || !PyType_IsSubtype((PyTypeObject *)argv[3], &PyDict_Type)) {
        PyErr_SetString(PyExc_TypeError,
                        "configure(): ref_kinds is a frozenset, rename_arg and rename_value_args callables, "
                        "tensor_args a dict subclass");
        return NULL;
    }
    PyObject **slots[] = {&ref_kinds, &rename_arg_fn, &rename_value_args_fn, &tensor_args_cls};
    for (int a = 0; a < 4; a++) {
        Py_INCREF(argv[a]);
        Py_XSETREF(*slots[a], argv[a]);
    }
    configured = 1;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"configure", (PyCFunction)(void (*)(void))py_configure, METH_FASTCALL,
     "configure(ref_kinds, rename_arg, rename_value_args, tensor_args): emit.py's constant, functions "
     "and _TensorArgs, once."},
    {"emit_nodes", (PyCFunction)(void (*)(void))py_emit_nodes, METH_FASTCALL,
     "emit_nodes(emitter, order) -> list: [emitter.node(k, nid) for k, nid in enumerate(order)]."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "pt2canon.canon._emit",
                                    "The canonical JSON of a graph's op nodes, compiled (see pt2canon/canon/emit.py).",
                                    -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__emit(void) {
    struct {
        PyObject **slot;
        const char *text;
    } names[] = {
        {&k_inputs, "inputs"},         {&k_outputs, "outputs"},     {&k_arg, "arg"},
        {&k_as_graph, "as_graph"},     {&k_as_tensor, "as_tensor"}, {&k_name, "name"},
        {&k_metadata, "metadata"},     {&a_nodes, "nodes"},         {&a_n_in, "n_in"},
        {&a_names, "names"},           {&a_tensor_args, "tensor_args"}, {&a_node_names, "node_names"},
        {&a_metadata, "metadata"},     {&a_drop_metadata, "drop_metadata"}, {&m_node, "node"},
        {&m_getitem, "__getitem__"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        *names[i].slot = PyUnicode_InternFromString(names[i].text);
        if (*names[i].slot == NULL) return NULL;
    }
    dict_getitem = PyObject_GetAttr((PyObject *)&PyDict_Type, m_getitem);
    if (dict_getitem == NULL) return NULL;
    return PyModule_Create(&module);
}
