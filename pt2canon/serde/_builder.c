/* pt2canon.serde._builder: the graph model's op-node loop, compiled.
 *
 * The reference is _Builder.op() in pt2canon/serde/graph.py: ops() here runs it, statement by
 * statement and in the same order, for each op node of a graph, so that the graph model (node
 * attributes, adjacency dicts and their insertion order, value definitions) is the one op() gives.
 * A node is taken here only where its containers are exact dicts and lists (what a parsed JSON
 * document holds) and its as_tensor entries are dicts; any other node goes to op() itself. The
 * uncommon paths call the builder's own methods (graph_arg for a subgraph, use for an argument
 * that is not a plain tensor, output for an output that is not a plain new tensor) and the
 * functions of graph.py that make an edge's data, a tensor output's slot and a Value: nothing the
 * model holds is made up here but the containers. tests/serde/test_builder_compiled.py checks
 * that the models are equal, in order, on every graph of the test corpus and on generated
 * programs, and that errors are the same.
 *
 *     configure(as_tensor_path, blank_tensor, missing, node_known, ref_kinds,
 *               tensor_slot, edge_data, use_data, value) -> None
 *     ops(builder, nodes, base, succ, pred, node_attrs, defs, tensor_table) -> int
 *
 * ops() returns how many plain tensor outputs it defined have a tensor_values entry (op() counts
 * those in builder.tensors_found; the caller adds this to it).
 *
 * Known difference: a node whose containers are replaced while it is converted (by the __eq__ or
 * __hash__ of a key or name, which parsed JSON never holds) raises RuntimeError here, where op()
 * would go on with the replaced containers and raise or not as they make it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *as_tensor_path, *blank_tensor, *missing, *node_known, *ref_kinds; /* graph.py's own */
static PyObject *tensor_slot_fn, *edge_data_fn, *use_data_fn, *value_cls;
static int configured = 0;

static PyObject *k_inputs, *k_outputs, *k_arg, *k_as_graph, *k_as_tensor, *k_name, *k_kind, *k_target,
    *k_metadata, *k_is_hop, *s_tensor, *s_op, *a_kind, *a_index, *a_target, *a_name, *a_args, *a_outputs,
    *a_values, *a_metadata, *a_subgraphs, *a_extra, *a_hop_single, *m_op, *m_graph_arg, *m_use, *m_output,
    *m_tensor_templates;

/* d[key] as a new reference, KeyError where it is missing (d an exact dict). */
static PyObject *item(PyObject *d, PyObject *key) {
    PyObject *v = PyDict_GetItemWithError(d, key);
    if (v == NULL) {
        if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, key);
        return NULL;
    }
    Py_INCREF(v);
    return v;
}

/* d.get(key, dflt) as a new reference (d an exact dict); NULL only with an exception. */
static PyObject *get_or(PyObject *d, PyObject *key, PyObject *dflt) {
    PyObject *v = PyDict_GetItemWithError(d, key);
    if (v == NULL) {
        if (PyErr_Occurred()) return NULL;
        v = dflt;
    }
    Py_INCREF(v);
    return v;
}

/* 1 where d.get(key) is absent or an exact dict, 0 where it is something else, -1 on an error.
 * The lookup can run Python code (a stored key's __eq__): the caller holds d. */
static int absent_or_dict(PyObject *d, PyObject *key) {
    PyObject *v = PyDict_GetItemWithError(d, key);
    if (v == NULL) return PyErr_Occurred() ? -1 : 1;
    return PyDict_CheckExact(v);
}

/* An exact dict or list fetched again after fast_node() looked (Python code run in between, a
 * key's __hash__ or __eq__, can have replaced it): 0, or -1 with an exception. */
static int still(PyObject *v, int is_list) {
    if (v != NULL && (is_list ? PyList_CheckExact(v) : PyDict_CheckExact(v))) return 0;
    PyErr_SetString(PyExc_RuntimeError, "pt2canon.serde._builder: the graph changed while it was converted");
    return -1;
}

/* Whether ops() takes node n (1), leaves it to op() (0), or an error (-1): exact containers only.
 * The lookups can run Python code that edits the node: every container is held while it is read,
 * and the ones read later are checked again where they are used (still()). Where it is 1,
 * *inputs is n["inputs"] as op() reads it, first (a new reference, for one_node()). */
static int fast_node(PyObject *n, PyObject **inputs) {
    *inputs = NULL;
    if (!PyDict_CheckExact(n)) return 0;
    int r = 0;
    PyObject *ins = NULL, *outs = NULL, *na = NULL, *arg = NULL, *o = NULL;
    ins = PyDict_GetItemWithError(n, k_inputs);
    if (ins == NULL) return PyErr_Occurred() ? -1 : 0;
    Py_INCREF(ins);
    outs = PyDict_GetItemWithError(n, k_outputs);
    if (outs == NULL) {
        r = PyErr_Occurred() ? -1 : 0;
        goto done;
    }
    Py_INCREF(outs);
    if (!PyList_CheckExact(ins) || !PyList_CheckExact(outs)) goto done;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(ins); i++) {
        na = PyList_GET_ITEM(ins, i);
        if (!PyDict_CheckExact(na)) {
            na = NULL; /* not held */
            r = 0;
            goto done;
        }
        Py_INCREF(na);
        arg = PyDict_GetItemWithError(na, k_arg);
        if (arg == NULL) {
            r = PyErr_Occurred() ? -1 : 0;
            goto done;
        }
        Py_INCREF(arg);
        r = PyDict_CheckExact(arg) ? absent_or_dict(arg, k_as_tensor) : 0;
        Py_CLEAR(arg);
        Py_CLEAR(na);
        if (r <= 0) goto done;
    }
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(outs); k++) {
        o = PyList_GET_ITEM(outs, k);
        if (!PyDict_CheckExact(o)) {
            r = 0; /* o not held */
            goto done;
        }
        Py_INCREF(o);
        r = absent_or_dict(o, k_as_tensor);
        Py_CLEAR(o);
        if (r <= 0) goto done;
    }
    r = 1;
    *inputs = ins;
    ins = NULL;
done:
    Py_XDECREF(ins);
    Py_XDECREF(outs);
    Py_XDECREF(na);
    Py_XDECREF(arg);
    return r;
}

/* {**na, "arg": arg} (na an exact dict that has "arg": the key keeps its place). */
static PyObject *with_arg(PyObject *na, PyObject *arg) {
    PyObject *c = PyDict_Copy(na);
    if (c != NULL && PyDict_SetItem(c, k_arg, arg) < 0) Py_CLEAR(c);
    return c;
}

/* arg.keys().isdisjoint(ref_kinds): 1, 0 or -1. */
static int disjoint(PyObject *arg) {
    Py_ssize_t pos = 0;
    PyObject *key, *val;
    while (PyDict_Next(arg, &pos, &key, &val)) {
        Py_INCREF(key); /* the lookup can run the key's __eq__, which can drop it from arg */
        int r = PySet_Contains(ref_kinds, key);
        Py_DECREF(key);
        if (r != 0) return r < 0 ? -1 : 0;
    }
    return 1;
}

/* n.keys() <= node_known: 1, 0 or -1. */
static int known_keys(PyObject *n) {
    Py_ssize_t pos = 0;
    PyObject *key, *val;
    while (PyDict_Next(n, &pos, &key, &val)) {
        Py_INCREF(key); /* as in disjoint() */
        int r = PySet_Contains(node_known, key);
        Py_DECREF(key);
        if (r != 1) return r;
    }
    return 1;
}

/* {k: v for k, v in n.items() if k not in node_known} */
static PyObject *extra_keys(PyObject *n) {
    PyObject *out = PyDict_New();
    if (out == NULL) return NULL;
    Py_ssize_t pos = 0;
    PyObject *key, *val;
    while (PyDict_Next(n, &pos, &key, &val)) {
        Py_INCREF(key);
        Py_INCREF(val);
        int r = PySet_Contains(node_known, key);
        if (r == 0) r = PyDict_SetItem(out, key, val) < 0 ? -1 : 0;
        Py_DECREF(key);
        Py_DECREF(val);
        if (r < 0) {
            Py_DECREF(out);
            return NULL;
        }
    }
    return out;
}

/* Value(slot, name, kind, meta): a NamedTuple's __new__ is tuple.__new__(cls, (slot, name, kind,
 * meta)), which for a subclass is tp_alloc of four items, filled (configure() checks that value is
 * a tuple subclass). */
static PyObject *new_value(PyObject *slot, PyObject *name, PyObject *kind, PyObject *meta) {
    PyTypeObject *tp = (PyTypeObject *)value_cls;
    PyObject *v = tp->tp_alloc(tp, 4);
    if (v == NULL) return NULL;
    PyObject *items[4] = {slot, name, kind, meta};
    for (int i = 0; i < 4; i++) {
        Py_INCREF(items[i]);
        PyTuple_SET_ITEM(v, i, items[i]);
    }
    return v;
}

typedef struct {
    PyObject *succ, *pred, *defs, *tensor_table, *templates;
    PyObject *graph_arg, *use, *output; /* the builder's bound methods */
    long long found;
} State;

/* One plain tensor argument whose name defs has: the edge and the template (op()'s inlined use()). */
static int plain_use(State *st, PyObject *nid, PyObject *preds, Py_ssize_t i, PyObject *na, PyObject *name,
                     PyObject *args) {
    int rc = -1;
    PyObject *keydict = NULL, *argname = NULL, *key = NULL, *data = NULL, *kind = NULL, *tk = NULL,
             *entry = NULL;
    PyObject *d = item(st->defs, name);
    if (d == NULL) return -1;
    if (!PyTuple_CheckExact(d) || PyTuple_GET_SIZE(d) != 5) {
        PyErr_Format(PyExc_SystemError, "pt2canon.serde._builder: the definition of %R is not a 5-tuple", name);
        goto done;
    }
    PyObject *src = PyTuple_GET_ITEM(d, 0);
    keydict = PyDict_GetItemWithError(preds, src);
    if (keydict != NULL) {
        Py_INCREF(keydict);
    } else {
        if (PyErr_Occurred()) goto done;
        keydict = PyDict_New();
        if (keydict == NULL) goto done;
        PyObject *src_succ = PyDict_GetItemWithError(st->succ, src); /* succ[d[0]][nid] = preds[d[0]] = {} */
        if (src_succ == NULL) {
            if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, src);
            goto done;
        }
        Py_INCREF(src_succ);
        int r = PyObject_SetItem(src_succ, nid, keydict);
        Py_DECREF(src_succ);
        if (r < 0 || PyDict_SetItem(preds, src, keydict) < 0) goto done;
    }
    argname = item(na, k_name);
    if (argname == NULL) goto done;
    PyObject *ii = PyLong_FromSsize_t(i);
    if (ii == NULL) goto done;
    key = PyTuple_Pack(3, ii, argname, as_tensor_path);
    Py_DECREF(ii);
    if (key == NULL) goto done;
    int same = PyObject_RichCompareBool(PyTuple_GET_ITEM(d, 2), s_tensor, Py_EQ);
    if (same < 0) goto done;
    if (same) {
        data = PyTuple_GET_ITEM(d, 4);
        Py_INCREF(data);
    } else {
        data = PyObject_CallFunctionObjArgs(use_data_fn, d, name, s_tensor, k_name, NULL);
        if (data == NULL) goto done;
    }
    if (PyObject_SetItem(keydict, key, data) < 0) goto done;
    kind = get_or(na, k_kind, Py_None);
    if (kind == NULL) goto done;
    if (PyLong_CheckExact(kind) && PyDict_GET_SIZE(na) == 3) { /* {name, arg, kind}: one shared template */
        tk = PyTuple_Pack(2, argname, kind);
        if (tk == NULL) goto done;
        entry = PyDict_GetItemWithError(st->templates, tk);
        if (entry != NULL) {
            Py_INCREF(entry);
        } else {
            if (PyErr_Occurred()) goto done;
            entry = with_arg(na, blank_tensor);
            if (entry == NULL || PyDict_SetItem(st->templates, tk, entry) < 0) goto done;
        }
    } else {
        entry = with_arg(na, blank_tensor);
        if (entry == NULL) goto done;
    }
    if (PyList_Append(args, entry) < 0) goto done;
    rc = 0;
done:
    Py_DECREF(d);
    Py_XDECREF(keydict);
    Py_XDECREF(argname);
    Py_XDECREF(key);
    Py_XDECREF(data);
    Py_XDECREF(kind);
    Py_XDECREF(tk);
    Py_XDECREF(entry);
    return rc;
}

/* One argument of op node j, as op()'s loop body. */
static int one_input(State *st, PyObject *nid, PyObject *jj, PyObject *preds, Py_ssize_t i, PyObject *na,
                     PyObject *args, PyObject *subgraphs) {
    PyObject *arg = item(na, k_arg), *ii = NULL, *argname = NULL, *template = NULL, *entry = NULL;
    int rc = -1;
    if (arg == NULL) return -1;
    if (still(arg, 0) < 0) goto done;
    ii = PyLong_FromSsize_t(i);
    if (ii == NULL) goto done;
    int r = PyDict_Contains(arg, k_as_graph);
    if (r < 0) goto done;
    if (r) {
        entry = PyObject_CallFunctionObjArgs(st->graph_arg, jj, ii, na, subgraphs, NULL);
        if (entry == NULL || PyList_Append(args, entry) < 0) goto done;
        rc = 0;
        goto done;
    }
    PyObject *t = PyDict_GetItemWithError(arg, k_as_tensor); /* an exact dict (fast_node) */
    if (t == NULL && PyErr_Occurred()) goto done;
    if (t != NULL && still(t, 0) < 0) goto done;
    if (t != NULL && PyDict_GET_SIZE(arg) == 1 && PyDict_GET_SIZE(t) == 1) {
        Py_INCREF(t);
        PyObject *name = item(t, k_name);
        Py_DECREF(t);
        if (name == NULL) goto done;
        r = PyDict_Contains(st->defs, name);
        if (r > 0) r = plain_use(st, nid, preds, i, na, name, args) < 0 ? -1 : 2;
        Py_DECREF(name);
        if (r < 0) goto done;
        if (r == 2) {
            rc = 0;
            goto done;
        }
    } else if (t == NULL) {
        r = disjoint(arg);
        if (r < 0) goto done;
        if (r) { /* a constant: the template is the argument itself */
            rc = PyList_Append(args, na);
            goto done;
        }
    }
    argname = item(na, k_name);
    if (argname == NULL) goto done;
    template = PyObject_CallFunctionObjArgs(st->use, nid, jj, ii, argname, arg, jj, NULL);
    if (template == NULL) goto done;
    if (template == arg) {
        entry = na;
        Py_INCREF(entry);
    } else {
        entry = with_arg(na, template);
        if (entry == NULL) goto done;
    }
    rc = PyList_Append(args, entry);
done:
    Py_DECREF(arg);
    Py_XDECREF(ii);
    Py_XDECREF(argname);
    Py_XDECREF(template);
    Py_XDECREF(entry);
    return rc;
}

/* One output of op node j, as op()'s loop body. */
static int one_output(State *st, PyObject *nid, PyObject *jj, Py_ssize_t k, PyObject *o, PyObject *outs,
                      PyObject *values) {
    int rc = -1;
    PyObject *name = NULL, *kk = NULL, *slot = NULL, *out_ = NULL, *data = NULL, *def = NULL, *meta = NULL,
             *value = NULL, *res = NULL;
    PyObject *t = PyDict_GetItemWithError(o, k_as_tensor); /* an exact dict (fast_node) */
    if (t == NULL && PyErr_Occurred()) return -1;
    if (t != NULL && still(t, 0) < 0) return -1;
    kk = PyLong_FromSsize_t(k);
    if (kk == NULL) return -1;
    if (t != NULL && PyDict_GET_SIZE(o) == 1 && PyDict_GET_SIZE(t) == 1) {
        Py_INCREF(t);
        name = item(t, k_name);
        Py_DECREF(t);
        if (name == NULL) goto done;
        int r = name == Py_None ? 1 : PyDict_Contains(st->defs, name); /* a None name: output() */
        if (r < 0) goto done;
        if (r == 0) {
            slot = PyObject_CallOneArg(tensor_slot_fn, kk);
            if (slot == NULL) goto done;
            out_ = PyLong_FromSsize_t(PyList_GET_SIZE(values));
            if (out_ == NULL) goto done;
            data = PyObject_CallFunctionObjArgs(edge_data_fn, name, slot, out_, s_tensor, k_name, NULL);
            if (data == NULL) goto done;
            def = PyTuple_Pack(5, nid, slot, s_tensor, out_, data);
            if (def == NULL || PyDict_SetItem(st->defs, name, def) < 0) goto done;
            meta = get_or(st->tensor_table, name, Py_None);
            if (meta == NULL) goto done;
            if (meta != Py_None) st->found++;
            value = new_value(slot, name, s_tensor, meta);
            if (value == NULL || PyList_Append(values, value) < 0 || PyList_Append(outs, blank_tensor) < 0)
                goto done;
            rc = 0;
            goto done;
        }
    }
    PyObject *first = PyLong_FromSsize_t(PyList_GET_SIZE(values));
    if (first == NULL) goto done;
    res = PyObject_CallFunctionObjArgs(st->output, jj, kk, o, first, NULL);
    Py_DECREF(first);
    if (res == NULL) goto done;
    if (!PyTuple_CheckExact(res) || PyTuple_GET_SIZE(res) != 2) {
        PyErr_SetString(PyExc_SystemError, "pt2canon.serde._builder: output() did not return a pair");
        goto done;
    }
    if (PyList_Append(outs, PyTuple_GET_ITEM(res, 0)) < 0) goto done;
    PyObject *more = PySequence_Fast(PyTuple_GET_ITEM(res, 1), "output() returns a sequence of values");
    if (more == NULL) goto done;
    for (Py_ssize_t m = 0; m < PySequence_Fast_GET_SIZE(more); m++) { /* values.extend(...) */
        if (PyList_Append(values, PySequence_Fast_GET_ITEM(more, m)) < 0) {
            Py_DECREF(more);
            goto done;
        }
    }
    Py_DECREF(more);
    rc = 0;
done:
    Py_XDECREF(name);
    Py_XDECREF(kk);
    Py_XDECREF(slot);
    Py_XDECREF(out_);
    Py_XDECREF(data);
    Py_XDECREF(def);
    Py_XDECREF(meta);
    Py_XDECREF(value);
    Py_XDECREF(res);
    return rc;
}

/* Op node j (n, an exact dict that fast_node took; ins, its n["inputs"]) with id nid, as op(). */
static int one_node(State *st, PyObject *node_attrs, Py_ssize_t j, PyObject *nid, PyObject *n, PyObject *ins) {
    int rc = -1;
    PyObject *jj = NULL, *s = NULL, *preds = NULL, *args = NULL, *subgraphs = NULL, *outs_in = NULL,
             *outs = NULL, *values = NULL, *attrs = NULL, *v = NULL;
    jj = PyLong_FromSsize_t(j);
    s = PyDict_New();
    if (jj == NULL || s == NULL || PyDict_SetItem(st->succ, nid, s) < 0) goto done;
    preds = PyDict_New();
    if (preds == NULL || PyDict_SetItem(st->pred, nid, preds) < 0) goto done; /* before the edges into it */
    args = PyList_New(0);
    subgraphs = PyDict_New();
    if (args == NULL || subgraphs == NULL) goto done;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(ins); i++) {
        PyObject *na = PyList_GET_ITEM(ins, i);
        if (still(na, 0) < 0) goto done;
        Py_INCREF(na);
        int r = one_input(st, nid, jj, preds, i, na, args, subgraphs);
        Py_DECREF(na);
        if (r < 0) goto done;
    }
    outs = PyList_New(0);
    values = PyList_New(0);
    outs_in = item(n, k_outputs);
    if (outs == NULL || values == NULL || outs_in == NULL || still(outs_in, 1) < 0) goto done;
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(outs_in); k++) {
        PyObject *o = PyList_GET_ITEM(outs_in, k);
        if (still(o, 0) < 0) goto done;
        Py_INCREF(o);
        int r = one_output(st, nid, jj, k, o, outs, values);
        Py_DECREF(o);
        if (r < 0) goto done;
    }
    attrs = PyDict_New();
    if (attrs == NULL || PyDict_SetItem(attrs, a_kind, s_op) < 0 || PyDict_SetItem(attrs, a_index, jj) < 0)
        goto done;
#define SET(key, expr)                                                   \
    do {                                                                 \
        v = (expr);                                                      \
        if (v == NULL || PyDict_SetItem(attrs, key, v) < 0) goto done;   \
        Py_CLEAR(v);                                                     \
    } while (0)
    SET(a_target, item(n, k_target));
    SET(a_name, get_or(n, k_name, missing));
    if (PyDict_SetItem(attrs, a_args, args) < 0 || PyDict_SetItem(attrs, a_outputs, outs) < 0) goto done;
    SET(a_values, PyList_AsTuple(values));
    SET(a_metadata, get_or(n, k_metadata, missing));
    if (PyDict_SetItem(attrs, a_subgraphs, subgraphs) < 0) goto done;
    int known = known_keys(n);
    if (known < 0) goto done;
    SET(a_extra, known ? PyDict_New() : extra_keys(n));
    SET(a_hop_single, get_or(n, k_is_hop, missing));
#undef SET
    if (PyDict_SetItem(node_attrs, nid, attrs) < 0) goto done;
    rc = 0;
done:
    Py_XDECREF(jj);
    Py_XDECREF(s);
    Py_XDECREF(preds);
    Py_XDECREF(args);
    Py_XDECREF(subgraphs);
    Py_XDECREF(outs_in);
    Py_XDECREF(outs);
    Py_XDECREF(values);
    Py_XDECREF(attrs);
    Py_XDECREF(v);
    return rc;
}

static PyObject *py_ops(PyObject *self, PyObject *const *argv, Py_ssize_t argc) {
    (void)self;
    if (argc != 8) {
        PyErr_Format(PyExc_TypeError, "ops() takes 8 arguments (%zd given)", argc);
        return NULL;
    }
    if (!configured) {
        PyErr_SetString(PyExc_RuntimeError, "pt2canon.serde._builder: ops() before configure()");
        return NULL;
    }
    PyObject *builder = argv[0], *nodes = argv[1], *node_attrs = argv[5];
    Py_ssize_t base = PyLong_AsSsize_t(argv[2]);
    if (base == -1 && PyErr_Occurred()) return NULL;
    for (int a = 3; a < 8; a++) {
        if (!PyDict_CheckExact(argv[a])) {
            PyErr_SetString(PyExc_TypeError, "ops(): succ, pred, node_attrs, defs and tensor_table are dicts");
            return NULL;
        }
    }
    if (!PyList_CheckExact(nodes)) {
        PyErr_SetString(PyExc_TypeError, "ops(): nodes is a list");
        return NULL;
    }
    State st = {argv[3], argv[4], argv[6], argv[7], NULL, NULL, NULL, NULL, 0};
    PyObject *op = NULL, *result = NULL;
    st.templates = PyObject_GetAttr(builder, m_tensor_templates);
    if (st.templates == NULL) goto done;
    if (!PyDict_CheckExact(st.templates)) {
        PyErr_SetString(PyExc_TypeError, "ops(): builder.tensor_templates is a dict");
        goto done;
    }
    op = PyObject_GetAttr(builder, m_op);
    st.graph_arg = op ? PyObject_GetAttr(builder, m_graph_arg) : NULL;
    st.use = st.graph_arg ? PyObject_GetAttr(builder, m_use) : NULL;
    st.output = st.use ? PyObject_GetAttr(builder, m_output) : NULL;
    if (st.output == NULL) goto done;
    Py_INCREF(nodes); /* held while the callbacks run */
    for (Py_ssize_t j = 0; j < PyList_GET_SIZE(nodes); j++) {
        PyObject *n = PyList_GET_ITEM(nodes, j);
        Py_INCREF(n);
        PyObject *nid = PyLong_FromSsize_t(base + j), *ins = NULL;
        int r = nid == NULL ? -1 : fast_node(n, &ins);
        if (r > 0) {
            r = one_node(&st, node_attrs, j, nid, n, ins);
            Py_DECREF(ins);
        } else if (r == 0) {
            PyObject *jj = PyLong_FromSsize_t(j);
            PyObject *res = jj ? PyObject_CallFunctionObjArgs(op, jj, n, NULL) : NULL;
            Py_XDECREF(jj);
            r = res == NULL ? -1 : 0;
            Py_XDECREF(res);
        }
        Py_XDECREF(nid);
        Py_DECREF(n);
        if (r < 0) {
            Py_DECREF(nodes);
            goto done;
        }
    }
    Py_DECREF(nodes);
    result = PyLong_FromLongLong(st.found);
done:
    Py_XDECREF(st.templates);
    Py_XDECREF(op);
    Py_XDECREF(st.graph_arg);
    Py_XDECREF(st.use);
    Py_XDECREF(st.output);
    return result;
}

static PyObject *py_configure(PyObject *self, PyObject *const *argv, Py_ssize_t argc) {
    (void)self;
    if (argc != 9) {
        PyErr_Format(PyExc_TypeError, "configure() takes 9 arguments (%zd given)", argc);
        return NULL;
    }
    if (!PyTuple_CheckExact(argv[0]) || !PyDict_CheckExact(argv[1]) || !PyFrozenSet_CheckExact(argv[3]) ||
        !PyFrozenSet_CheckExact(argv[4]) || !PyType_Check(argv[8]) ||
        !PyType_IsSubtype((PyTypeObject *)argv[8], &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError,
                        "configure(): as_tensor_path is a tuple, blank_tensor a dict, node_known and "
                        "ref_kinds frozensets, value a tuple subclass");
        return NULL;
    }
    PyObject **slots[] = {&as_tensor_path, &blank_tensor, &missing, &node_known, &ref_kinds,
                          &tensor_slot_fn, &edge_data_fn, &use_data_fn, &value_cls};
    for (int a = 0; a < 9; a++) {
        Py_INCREF(argv[a]);
        Py_XSETREF(*slots[a], argv[a]);
    }
    configured = 1;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"configure", (PyCFunction)(void (*)(void))py_configure, METH_FASTCALL,
     "configure(as_tensor_path, blank_tensor, missing, node_known, ref_kinds, tensor_slot, edge_data, "
     "use_data, value): graph.py's constants and functions, once."},
    {"ops", (PyCFunction)(void (*)(void))py_ops, METH_FASTCALL,
     "ops(builder, nodes, base, succ, pred, node_attrs, defs, tensor_table) -> int: _Builder.op() for "
     "every node; the count of plain tensor outputs with a tensor_values entry."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "pt2canon.serde._builder",
                                    "The graph model's op-node loop, compiled (see pt2canon/serde/graph.py).", -1,
                                    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__builder(void) {
    struct {
        PyObject **slot;
        const char *text;
    } names[] = {
        {&k_inputs, "inputs"},       {&k_outputs, "outputs"},   {&k_arg, "arg"},
        {&k_as_graph, "as_graph"},   {&k_as_tensor, "as_tensor"}, {&k_name, "name"},
        {&k_kind, "kind"},           {&k_target, "target"},     {&k_metadata, "metadata"},
        {&k_is_hop, "is_hop_single_tensor_return"},               {&s_tensor, "tensor"},
        {&s_op, "op"},               {&a_kind, "kind"},         {&a_index, "index"},
        {&a_target, "target"},       {&a_name, "name"},         {&a_args, "args"},
        {&a_outputs, "outputs"},     {&a_values, "values"},     {&a_metadata, "metadata"},
        {&a_subgraphs, "subgraphs"}, {&a_extra, "extra"},       {&a_hop_single, "hop_single"},
        {&m_op, "op"},               {&m_graph_arg, "graph_arg"}, {&m_use, "use"},
        {&m_output, "output"},       {&m_tensor_templates, "tensor_templates"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        *names[i].slot = PyUnicode_InternFromString(names[i].text);
        if (*names[i].slot == NULL) return NULL;
    }
    return PyModule_Create(&module);
}
