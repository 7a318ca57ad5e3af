/* The native fast path of the HTTP/1.1 request parser (optional; `_parser.py` is the reference).

   `HeadScanner.scan(buf, n)` reads the head held in the first `n` bytes of `buf` (it ends with the CRLF of
   its last line; the blank line is not included) and returns what `_parser.RequestParser._parse_head`
   gets from its common-case patterns: (method, target, path, query, minor, fields), `fields` a list of
   (name, value) str pairs (latin-1, the value without its surrounding OWS). It accepts only what those
   patterns accept under every rule set: a conventional method (not CONNECT), an origin-form target without
   a fragment, HTTP/1.0 or 1.1, every field line `token ":" OWS field-value OWS CRLF`, and the limits met
   plainly. For anything else it returns None and the Python parser reads the head as it always does, so
   every refusal, every leniency and every message comes from one place.

   Strings that recur (field names, short values, methods) come from a small table of the scanner's own:
   the same str object again, its hash already computed, instead of a new one per request. The table is
   state of the scanner object (one per worker's parser settings), not of the module. The GIL is held
   throughout: no other thread sees the table half-written. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* Character classes (RFC 9110 §5.6.2 tchar; Gunicorn's conventional method; the origin-form characters
   of `_abnf._PATH_CHAR` and `_QUERY_CHAR`; field-content and field-vchar of RFC 9110 §5.5). */
enum {
    TCHAR = 1,
    METHOD = 2,
    PATH = 4,
    QUERY = 8,
    CONTENT = 16, /* HTAB, SP, VCHAR, obs-text */
};

static unsigned char classes[256];

static void
init_classes(void)
{
    const char *specials = "!#$%&'*+-.^_`|~";
    for (int c = 0; c < 256; c++) {
        unsigned char k = 0;
        int alnum = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
        int tchar = alnum || (c != 0 && strchr(specials, c) != NULL);
        if (tchar) {
            k |= TCHAR;
            if (!(c >= 'a' && c <= 'z') && c != '#') {
                k |= METHOD;
            }
        }
        if (c >= 0x21 && c <= 0x7e && c != '#') {
            k |= QUERY;
            if (c != '?') {
                k |= PATH;
            }
        }
        if (c == '\t' || c == ' ' || (c >= 0x21 && c <= 0x7e) || c >= 0x80) {
            k |= CONTENT;
        }
        classes[c] = k;
    }
}

#define TABLE_SIZE 1024 /* a power of two */
#define CACHED_MAX 48   /* longer strings are made afresh (cookies, tokens: rarely the same twice) */

typedef struct {
    PyObject_HEAD
    Py_ssize_t limit_line;
    Py_ssize_t max_fields;
    Py_ssize_t max_field_size;
    PyObject *table[TABLE_SIZE];
} HeadScanner;

/* A str of the latin-1 bytes [p, p + n); `high`: some byte is 0x80 or above. */
static PyObject *
make_str(const unsigned char *p, Py_ssize_t n, int high)
{
    PyObject *s = PyUnicode_New(n, high ? 255 : 127);
    if (s != NULL && n) {
        memcpy(PyUnicode_1BYTE_DATA(s), p, (size_t)n);
    }
    return s;
}

/* The same, from the scanner's table when it was seen lately (a new reference either way). */
static PyObject *
cached_str(HeadScanner *self, const unsigned char *p, Py_ssize_t n, int high)
{
    if (n > CACHED_MAX) {
        return make_str(p, n, high);
    }
    Py_uhash_t h = 2166136261u; /* FNV-1a */
    for (Py_ssize_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 16777619u;
    }
    h ^= (Py_uhash_t)n;
    PyObject **slot = &self->table[h & (TABLE_SIZE - 1)];
    PyObject *s = *slot;
    if (s != NULL && PyUnicode_GET_LENGTH(s) == n && memcmp(PyUnicode_1BYTE_DATA(s), p, (size_t)n) == 0) {
        Py_INCREF(s);
        return s;
    }
    s = make_str(p, n, high);
    if (s == NULL) {
        return NULL;
    }
    Py_INCREF(s);
    Py_XSETREF(*slot, s);
    return s;
}

/* The request line; on success *at is the first byte after its CRLF. Returns 0 when it is not the common
   line (or is too long), 1 when it is, -1 on a Python error. */
static int
scan_request_line(HeadScanner *self, const unsigned char *head, const unsigned char *end,
                  const unsigned char **at, PyObject *out[5])
{
    const unsigned char *p = head;
    while (p < end && (classes[*p] & METHOD)) {
        p++;
    }
    Py_ssize_t method_len = p - head;
    if (method_len < 3 || method_len > 20 || p >= end || *p != ' ') {
        return 0;
    }
    if (method_len == 7 && memcmp(head, "CONNECT", 7) == 0) {
        return 0;
    }
    const unsigned char *target = ++p;
    if (p >= end || *p != '/') {
        return 0;
    }
    while (p < end && (classes[*p] & PATH)) {
        p++;
    }
    const unsigned char *path_end = p, *query = NULL;
    if (p < end && *p == '?') {
        query = ++p;
        while (p < end && (classes[*p] & QUERY)) {
            p++;
        }
    }
    const unsigned char *target_end = p;
    if (end - p < 11 || memcmp(p, " HTTP/1.", 8) != 0 || (p[8] != '0' && p[8] != '1') || p[9] != '\r' ||
        p[10] != '\n') {
        return 0;
    }
    if ((p + 9) - head > self->limit_line) {
        return 0;
    }
    *at = p + 11;
    out[0] = cached_str(self, head, method_len, 0);
    if (out[0] == NULL) {
        return -1;
    }
    out[1] = make_str(target, target_end - target, 0);
    if (out[1] == NULL) {
        return -1;
    }
    if (query == NULL) {
        out[2] = Py_NewRef(out[1]);
        out[3] = PyUnicode_New(0, 0);
    }
    else {
        out[2] = make_str(target, path_end - target, 0);
        out[3] = out[2] == NULL ? NULL : make_str(query, target_end - query, 0);
    }
    if (out[3] == NULL) {
        return -1;
    }
    out[4] = PyLong_FromLong(p[8] - '0');
    return out[4] == NULL ? -1 : 1;
}

/* The field lines [p, end); a list of (name, value), Py_None when a line is not plainly valid or a limit is
   near, NULL on a Python error. */
static PyObject *
scan_fields(HeadScanner *self, const unsigned char *p, const unsigned char *end)
{
    if (end - p > self->max_field_size) {
        Py_RETURN_NONE; /* the Python parser measures each line */
    }
    PyObject *fields = PyList_New(0);
    if (fields == NULL) {
        return NULL;
    }
    Py_ssize_t count = 0;
    while (p < end) {
        const unsigned char *name = p;
        while (p < end && (classes[*p] & TCHAR)) {
            p++;
        }
        if (p == name || p >= end || *p != ':') {
            goto not_plain;
        }
        const unsigned char *name_end = p++;
        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }
        const unsigned char *value = p, *value_end = p;
        int high = 0;
        while (p < end && (classes[*p] & CONTENT)) {
            unsigned char c = *p++;
            if (c != ' ' && c != '\t') {
                value_end = p;
                high |= c & 0x80;
            }
        }
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
            goto not_plain;
        }
        p += 2;
        if (++count > self->max_fields) {
            goto not_plain;
        }
        PyObject *k = cached_str(self, name, name_end - name, 0);
        if (k == NULL) {
            goto error;
        }
        PyObject *v = cached_str(self, value, value_end - value, high);
        if (v == NULL) {
            Py_DECREF(k);
            goto error;
        }
        PyObject *pair = PyTuple_New(2);
        if (pair == NULL) {
            Py_DECREF(k);
            Py_DECREF(v);
            goto error;
        }
        PyTuple_SET_ITEM(pair, 0, k);
        PyTuple_SET_ITEM(pair, 1, v);
        int failed = PyList_Append(fields, pair);
        Py_DECREF(pair);
        if (failed) {
            goto error;
        }
    }
    return fields;
not_plain:
    Py_DECREF(fields);
    Py_RETURN_NONE;
error:
    Py_DECREF(fields);
    return NULL;
}

static PyObject *
HeadScanner_scan(HeadScanner *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "scan(buf, n) takes two arguments");
        return NULL;
    }
    Py_ssize_t n = PyLong_AsSsize_t(args[1]);
    if (n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (n < 0 || n > view.len) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "n must be within the buffer");
        return NULL;
    }
    const unsigned char *head = (const unsigned char *)view.buf, *end = head + n, *at = NULL;
    PyObject *line[5] = {NULL, NULL, NULL, NULL, NULL};
    PyObject *result = NULL;
    int found = scan_request_line(self, head, end, &at, line);
    if (found == 0) {
        result = Py_NewRef(Py_None);
    }
    else if (found > 0) {
        PyObject *fields = scan_fields(self, at, end);
        if (fields == Py_None) {
            result = fields;
        }
        else if (fields != NULL) {
            result = PyTuple_Pack(6, line[0], line[1], line[2], line[3], line[4], fields);
            Py_DECREF(fields);
        }
    }
    for (int i = 0; i < 5; i++) {
        Py_XDECREF(line[i]);
    }
    PyBuffer_Release(&view);
    return result;
}

static int
HeadScanner_init(HeadScanner *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"limit_line", "max_fields", "max_field_size", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "nnn", keywords, &self->limit_line, &self->max_fields,
                                     &self->max_field_size)) {
        return -1;
    }
    return 0;
}

static int
HeadScanner_traverse(HeadScanner *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    return 0; /* the table holds only str objects: no cycle can pass through it */
}

static void
HeadScanner_dealloc(HeadScanner *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    for (int i = 0; i < TABLE_SIZE; i++) {
        Py_CLEAR(self->table[i]);
    }
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

static PyMethodDef HeadScanner_methods[] = {
    {"scan", (PyCFunction)(void (*)(void))HeadScanner_scan, METH_FASTCALL,
     "scan(buf, n): the common-case parts of the head in buf[:n], or None"},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot HeadScanner_slots[] = {
    {Py_tp_doc, "The request-head fast path of one set of parser limits (see the module's docstring)."},
    {Py_tp_init, HeadScanner_init},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_dealloc, HeadScanner_dealloc},
    {Py_tp_traverse, HeadScanner_traverse},
    {Py_tp_methods, HeadScanner_methods},
    {0, NULL},
};

static PyType_Spec HeadScanner_spec = {
    .name = "monoceros.http._speedups.HeadScanner",
    .basicsize = sizeof(HeadScanner),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = HeadScanner_slots,
};

static int
speedups_exec(PyObject *module)
{
    PyObject *type = PyType_FromModuleAndSpec(module, &HeadScanner_spec, NULL);
    if (type == NULL) {
        return -1;
    }
    int failed = PyModule_AddObjectRef(module, "HeadScanner", type);
    Py_DECREF(type);
    return failed;
}

static PyModuleDef_Slot speedups_slots[] = {
    {Py_mod_exec, speedups_exec},
    {0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "monoceros.http._speedups",
    .m_doc = "The native fast path of Monoceros's HTTP/1.1 request parser (optional).",
    .m_size = 0,
    .m_slots = speedups_slots,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    init_classes(); /* constant tables, the same for every interpreter */
    return PyModuleDef_Init(&speedups_module);
}
