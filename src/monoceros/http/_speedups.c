/* The native fast path of the HTTP/1.1 request parser (optional; `_parser.py` is the reference).

   `HeadScanner.scan(buf, n)` reads the head held in the first `n` bytes of `buf` (it ends with the CRLF of
   its last line; the blank line is not included) and returns what `_parser.RequestParser._parse_head`
   gets from its common-case patterns: (method, target, path, query, minor, fields), `fields` a list of
   (name, value) str pairs (latin-1, the value without its surrounding OWS). It accepts only what those
   patterns accept under every rule set: a conventional method (not CONNECT), an origin-form target without
   a fragment, HTTP/1.0 or 1.1, every field line `token ":" OWS field-value OWS CRLF`, and the limits met
   plainly. For anything else it returns None and the Python parser reads the head as it always does, so
   every refusal, every leniency and every message comes from one place.

   `HeadScanner.read(buf, n)` goes one step further when it can: the `Request` event itself, as
   `_semantics.build_request` makes it, for a head whose fields need no judgement beyond the plain one
   (no name with an underscore, at most one Host and already in the worker's set of valid hosts, one
   Connection of "keep-alive" or "close", one Content-Length of digits or one "Transfer-Encoding: chunked",
   one Content-Type, one "Expect: 100-continue"). Anything else it returns as `scan` does, for
   `build_request` to decide, so every refusal is still made in Python.

   `take_chunks(buf, limit)` is the chunked-body reader's fast path (`_readers.ChunkedReader`): from the
   start of `buf`, every complete chunk whose line is a bare size (1 to 16 hex digits, CRLF) and whose data
   and CRLF are all there; it returns where it stopped and their data joined. It stops before anything
   else (an extension, the last chunk, a partial chunk, a line the Python reader would refuse) and the
   Python reader goes on from there.

   Strings that recur (field names, short values, methods) come from a small table of the scanner's own:
   the same str object again, its hash already computed, instead of a new one per request. The table is
   state of the scanner object (one per worker's parser settings), not of the module. The GIL is held
   throughout: no other thread sees the table half-written. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "_speedups.h"

/* The character classes (their names in `_speedups.h`, shared with the response writer). */
unsigned char speedups_classes[256];

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
        speedups_classes[c] = k;
    }
}

#define TABLE_SIZE 1024 /* a power of two */
#define CACHED_MAX 48   /* longer strings are made afresh (cookies, tokens: rarely the same twice) */

/* What a field name is to `read` (as `_semantics._KINDS`; an underscore sends the head to Python). */
enum { PLAIN, HOST, CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING, CONTENT_TYPE, EXPECT, UNDERSCORED };

#define NAMES_SIZE 256

typedef struct {
    PyObject *sent;  /* the name as sent */
    PyObject *upper; /* upper-cased */
    int kind;
} Name;

typedef struct {
    PyObject_HEAD
    Py_ssize_t limit_line;
    Py_ssize_t max_fields;
    Py_ssize_t max_field_size;
    int require_host;
    PyObject *request_type; /* _events.Request */
    PyObject *hosts;        /* the worker's set of Host values found valid (`Caches.hosts`) */
    PyObject *http10, *http11;
    PyObject *table[TABLE_SIZE];
    Name names[NAMES_SIZE];
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

static Py_uhash_t
fnv1a(const unsigned char *p, Py_ssize_t n)
{
    Py_uhash_t h = 2166136261u;
    for (Py_ssize_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 16777619u;
    }
    return h;
}

/* The same, from the scanner's table when it was seen lately (a new reference either way). */
static PyObject *
cached_str(HeadScanner *self, const unsigned char *p, Py_ssize_t n, int high)
{
    if (n > CACHED_MAX) {
        return make_str(p, n, high);
    }
    PyObject **slot = &self->table[(fnv1a(p, n) ^ (Py_uhash_t)n) & (TABLE_SIZE - 1)];
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

static int
name_kind(const unsigned char *p, Py_ssize_t n)
{
    static const struct {
        const char *upper;
        int kind;
    } special[] = {
        {"HOST", HOST},
        {"CONNECTION", CONNECTION},
        {"CONTENT-LENGTH", CONTENT_LENGTH},
        {"TRANSFER-ENCODING", TRANSFER_ENCODING},
        {"CONTENT-TYPE", CONTENT_TYPE},
        {"EXPECT", EXPECT},
    };
    if (memchr(p, '_', (size_t)n) != NULL) {
        return UNDERSCORED;
    }
    char upper[20];
    if (n >= (Py_ssize_t)sizeof(upper)) {
        return PLAIN;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        upper[i] = (char)((p[i] >= 'a' && p[i] <= 'z') ? p[i] - 32 : p[i]);
    }
    upper[n] = 0;
    for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++) {
        if (strcmp(upper, special[i].upper) == 0) {
            return special[i].kind;
        }
    }
    return PLAIN;
}

/* The cached (sent, upper, kind) of a field name (borrowed references, valid until the next call), or NULL
   on a Python error. */
static Name *
cached_name(HeadScanner *self, const unsigned char *p, Py_ssize_t n)
{
    Name *slot = &self->names[fnv1a(p, n) & (NAMES_SIZE - 1)];
    if (slot->sent != NULL && PyUnicode_GET_LENGTH(slot->sent) == n &&
        memcmp(PyUnicode_1BYTE_DATA(slot->sent), p, (size_t)n) == 0) {
        return slot;
    }
    PyObject *sent = make_str(p, n, 0);
    if (sent == NULL) {
        return NULL;
    }
    PyObject *upper = PyUnicode_New(n, 127);
    if (upper == NULL) {
        Py_DECREF(sent);
        return NULL;
    }
    Py_UCS1 *u = PyUnicode_1BYTE_DATA(upper);
    for (Py_ssize_t i = 0; i < n; i++) {
        u[i] = (p[i] >= 'a' && p[i] <= 'z') ? (Py_UCS1)(p[i] - 32) : p[i];
    }
    Py_XSETREF(slot->sent, sent);
    Py_XSETREF(slot->upper, upper);
    slot->kind = name_kind(p, n);
    return slot;
}

/* The request line; on success *at is the first byte after its CRLF. Returns 0 when it is not the common
   line (or is too long), 1 when it is, -1 on a Python error. */
static int
scan_request_line(HeadScanner *self, const unsigned char *head, const unsigned char *end,
                  const unsigned char **at, PyObject *out[5])
{
    const unsigned char *p = head;
    while (p < end && (speedups_classes[*p] & METHOD)) {
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
    while (p < end && (speedups_classes[*p] & PATH)) {
        p++;
    }
    const unsigned char *path_end = p, *query = NULL;
    if (p < end && *p == '?') {
        query = ++p;
        while (p < end && (speedups_classes[*p] & QUERY)) {
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

/* What `read` gathers of the fields as they are scanned (each flag as `_semantics.build_request` has it). */
typedef struct {
    int plain; /* still a head `read` decides alone */
    PyObject *headers; /* (UPPER-CASE name, value), as `Request.headers` */
    int host, connection, keep_alive, length, chunked, ctype, expect;
    long long content_length;
} Judged;

static int
lower_equals(const unsigned char *p, Py_ssize_t n, const char *word)
{
    Py_ssize_t i = 0;
    for (; i < n && word[i]; i++) {
        unsigned char c = p[i];
        if ((c >= 'A' && c <= 'Z' ? c + 32 : c) != (unsigned char)word[i]) {
            return 0;
        }
    }
    return i == n && word[i] == 0;
}

/* Note one field in `j`; 0, or -1 on a Python error. What `read` cannot decide alone clears `plain`. */
static int
judge(HeadScanner *self, Judged *j, Name *name, const unsigned char *v, Py_ssize_t n, PyObject *value)
{
    switch (name->kind) {
    case UNDERSCORED:
        j->plain = 0; /* header_map and the forwarders decide */
        return 0;
    case HOST: {
        int known = j->host ? 0 : PySet_Contains(self->hosts, value);
        if (known < 0) {
            return -1;
        }
        j->host = 1;
        j->plain &= known; /* a second Host, or one not yet found valid: Python checks it */
        break;
    }
    case CONNECTION:
        if (j->connection || !(lower_equals(v, n, "keep-alive") || lower_equals(v, n, "close"))) {
            j->plain = 0;
        }
        j->connection = 1;
        j->keep_alive = n == 10; /* "keep-alive" (else "close") */
        break;
    case CONTENT_LENGTH:
        if (j->length || n < 1 || n > 18) {
            j->plain = 0;
        }
        j->length = 1;
        j->content_length = 0;
        for (Py_ssize_t i = 0; i < n && j->plain; i++) {
            if (v[i] < '0' || v[i] > '9') {
                j->plain = 0;
            }
            j->content_length = j->content_length * 10 + (v[i] - '0');
        }
        break;
    case TRANSFER_ENCODING:
        if (j->chunked || n != 7 || memcmp(v, "chunked", 7) != 0) {
            j->plain = 0;
        }
        j->chunked = 1;
        break;
    case CONTENT_TYPE:
        if (j->ctype) {
            j->plain = 0;
        }
        j->ctype = 1;
        break;
    case EXPECT:
        if (j->expect || !lower_equals(v, n, "100-continue")) {
            j->plain = 0;
        }
        j->expect = 1;
        break;
    }
    PyObject *pair = PyTuple_Pack(2, name->upper, value);
    if (pair == NULL) {
        return -1;
    }
    int failed = PyList_Append(j->headers, pair);
    Py_DECREF(pair);
    return failed;
}

/* The field lines [p, end); a list of (name, value), Py_None when a line is not plainly valid or a limit is
   near, NULL on a Python error. With `j`, each field is also judged into it. */
static PyObject *
scan_fields(HeadScanner *self, const unsigned char *p, const unsigned char *end, Judged *j)
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
        const unsigned char *name_at = p;
        while (p < end && (speedups_classes[*p] & TCHAR)) {
            p++;
        }
        if (p == name_at || p >= end || *p != ':') {
            goto not_plain;
        }
        const unsigned char *name_end = p++;
        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }
        const unsigned char *value_at = p, *value_end = p;
        int high = 0;
        while (p < end && (speedups_classes[*p] & CONTENT)) {
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
        Name *name = cached_name(self, name_at, name_end - name_at);
        if (name == NULL) {
            goto error;
        }
        PyObject *value = cached_str(self, value_at, value_end - value_at, high);
        if (value == NULL) {
            goto error;
        }
        PyObject *pair = PyTuple_Pack(2, name->sent, value);
        if (pair == NULL || PyList_Append(fields, pair) < 0 ||
            (j != NULL && j->plain && judge(self, j, name, value_at, value_end - value_at, value) < 0)) {
            Py_XDECREF(pair);
            Py_DECREF(value);
            goto error;
        }
        Py_DECREF(pair);
        Py_DECREF(value);
    }
    return fields;
not_plain:
    Py_DECREF(fields);
    Py_RETURN_NONE;
error:
    Py_DECREF(fields);
    return NULL;
}

/* The two arguments every entry point takes, a buffer and a size: 0, or -1 with an exception set (the
   buffer is held on success: PyBuffer_Release it). */
static int
buffer_and_size(PyObject *const *args, Py_ssize_t nargs, const char *usage, Py_buffer *view, Py_ssize_t *n)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "%s takes two arguments", usage);
        return -1;
    }
    *n = PyLong_AsSsize_t(args[1]);
    if (*n == -1 && PyErr_Occurred()) {
        return -1;
    }
    return PyObject_GetBuffer(args[0], view, PyBUF_SIMPLE);
}

/* The Request event of a judged head (`_events.Request`, a tuple subclass, filled as tuple.__new__ does). */
static PyObject *
make_request(HeadScanner *self, PyObject *line[5], PyObject *fields, Judged *j, int http11)
{
    PyObject *length = j->length ? PyLong_FromLongLong(j->content_length) : Py_NewRef(Py_None);
    if (length == NULL) {
        return NULL;
    }
    PyObject *empty = PyUnicode_New(0, 0);
    PyTypeObject *type = (PyTypeObject *)self->request_type;
    PyObject *request = type->tp_alloc(type, 12);
    if (request == NULL || empty == NULL) {
        Py_XDECREF(request);
        Py_XDECREF(empty);
        Py_DECREF(length);
        return NULL;
    }
    PyObject *items[12] = {
        line[0], line[1], line[2], line[3], empty, http11 ? self->http11 : self->http10, j->headers, fields,
        length,
        j->chunked ? Py_True : Py_False,
        (j->connection ? j->keep_alive : http11) ? Py_True : Py_False,
        (j->expect && http11) ? Py_True : Py_False,
    };
    for (int i = 0; i < 12; i++) {
        if (i != 4 && i != 8) {
            Py_INCREF(items[i]); /* (the empty str and the length are new references already) */
        }
        PyTuple_SET_ITEM(request, i, items[i]);
    }
    return request;
}

/* scan (judging = 0) and read (judging = 1). */
static PyObject *
scan_or_read(HeadScanner *self, PyObject *const *args, Py_ssize_t nargs, int judging)
{
    Py_buffer view;
    Py_ssize_t n;
    if (buffer_and_size(args, nargs, judging ? "read(buf, n)" : "scan(buf, n)", &view, &n) < 0) {
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
    Judged j = {.plain = 1};
    int found = scan_request_line(self, head, end, &at, line);
    if (found == 0) {
        result = Py_NewRef(Py_None);
    }
    else if (found > 0 && (!judging || (j.headers = PyList_New(0)) != NULL)) {
        PyObject *fields = scan_fields(self, at, end, judging ? &j : NULL);
        if (fields == Py_None) {
            result = fields;
        }
        else if (fields != NULL) {
            int http11 = PyLong_AsLong(line[4]) == 1;
            if (judging && j.plain && (j.host || !self->require_host || !http11) && !(j.chunked && !http11) &&
                !(j.chunked && j.length)) {
                result = make_request(self, line, fields, &j, http11);
            }
            else {
                result = PyTuple_Pack(6, line[0], line[1], line[2], line[3], line[4], fields);
            }
            Py_DECREF(fields);
        }
    }
    Py_XDECREF(j.headers);
    for (int i = 0; i < 5; i++) {
        Py_XDECREF(line[i]);
    }
    PyBuffer_Release(&view);
    return result;
}

static PyObject *
HeadScanner_scan(HeadScanner *self, PyObject *const *args, Py_ssize_t nargs)
{
    return scan_or_read(self, args, nargs, 0);
}

static PyObject *
HeadScanner_read(HeadScanner *self, PyObject *const *args, Py_ssize_t nargs)
{
    return scan_or_read(self, args, nargs, 1);
}

static int
hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c |= 0x20;
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

#define MAX_SEGMENTS 64 /* chunks joined per call; the reader calls again for the rest */

static PyObject *
take_chunks(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    Py_ssize_t limit;
    if (buffer_and_size(args, nargs, "take_chunks(buf, limit)", &view, &limit) < 0) {
        return NULL;
    }
    const unsigned char *buf = (const unsigned char *)view.buf;
    Py_ssize_t len = view.len, pos = 0, total = 0, count = 0;
    Py_ssize_t starts[MAX_SEGMENTS], sizes[MAX_SEGMENTS];
    while (count < MAX_SEGMENTS) {
        Py_ssize_t at = pos;
        unsigned long long size = 0;
        int digits = 0, value;
        while (at < len && digits <= 16 && (value = hex_value(buf[at])) >= 0) {
            size = size * 16 + (unsigned long long)value;
            digits++;
            at++;
        }
        if (digits == 0 || digits > 16 || len - at < 2 || buf[at] != '\r' || buf[at + 1] != '\n') {
            break;
        }
        at += 2;
        Py_ssize_t room = len - at - 2; /* the data and its CRLF must both be here */
        if (at - pos > limit || size == 0 || room < 0 || size > (unsigned long long)room) {
            break; /* a line too long, the last chunk, or data not all here: the Python reader's part */
        }
        Py_ssize_t end = at + (Py_ssize_t)size;
        if (buf[end] != '\r' || buf[end + 1] != '\n') {
            break;
        }
        starts[count] = at;
        sizes[count] = (Py_ssize_t)size;
        count++;
        total += (Py_ssize_t)size;
        pos = end + 2;
    }
    PyObject *data = PyBytes_FromStringAndSize(NULL, total);
    if (data == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    char *out = PyBytes_AS_STRING(data);
    for (Py_ssize_t i = 0; i < count; i++) {
        memcpy(out, buf + starts[i], (size_t)sizes[i]);
        out += sizes[i];
    }
    PyBuffer_Release(&view);
    PyObject *result = Py_BuildValue("(nN)", pos, data);
    return result;
}

static int
HeadScanner_init(HeadScanner *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"limit_line", "max_fields", "max_field_size", "require_host", "hosts",
                               "request_type", "http10", "http11", NULL};
    PyObject *hosts, *request_type, *http10, *http11;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "nnnpO!O!O!O!", keywords, &self->limit_line,
                                     &self->max_fields, &self->max_field_size, &self->require_host,
                                     &PySet_Type, &hosts, &PyType_Type, &request_type, &PyTuple_Type, &http10,
                                     &PyTuple_Type, &http11)) {
        return -1;
    }
    if (!PyType_IsSubtype((PyTypeObject *)request_type, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "request_type must be a tuple subclass");
        return -1;
    }
    Py_XSETREF(self->hosts, Py_NewRef(hosts));
    Py_XSETREF(self->request_type, Py_NewRef(request_type));
    Py_XSETREF(self->http10, Py_NewRef(http10));
    Py_XSETREF(self->http11, Py_NewRef(http11));
    return 0;
}

static int
HeadScanner_traverse(HeadScanner *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->hosts);
    Py_VISIT(self->request_type);
    Py_VISIT(self->http10);
    Py_VISIT(self->http11);
    return 0; /* the tables hold only str objects: no cycle can pass through them */
}

static void
HeadScanner_dealloc(HeadScanner *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    for (int i = 0; i < TABLE_SIZE; i++) {
        Py_CLEAR(self->table[i]);
    }
    for (int i = 0; i < NAMES_SIZE; i++) {
        Py_CLEAR(self->names[i].sent);
        Py_CLEAR(self->names[i].upper);
    }
    Py_CLEAR(self->hosts);
    Py_CLEAR(self->request_type);
    Py_CLEAR(self->http10);
    Py_CLEAR(self->http11);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

static PyMethodDef HeadScanner_methods[] = {
    {"scan", (PyCFunction)(void (*)(void))HeadScanner_scan, METH_FASTCALL,
     "scan(buf, n): the common-case parts of the head in buf[:n], or None"},
    {"read", (PyCFunction)(void (*)(void))HeadScanner_read, METH_FASTCALL,
     "read(buf, n): the Request of the head in buf[:n] when plain, else what scan gives"},
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
    return failed ? failed : writer_exec(module);
}

static PyMethodDef speedups_functions[] = {
    {"take_chunks", (PyCFunction)(void (*)(void))take_chunks, METH_FASTCALL,
     "take_chunks(buf, limit): (end, data) of the plain complete chunks at the start of buf"},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot speedups_slots[] = {
    {Py_mod_exec, speedups_exec},
    {0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "monoceros.http._speedups",
    .m_doc = "The native fast path of Monoceros's HTTP/1.1 request parser and response writer (optional).",
    .m_size = 0, /* the writer's state: set in PyInit (its size is known in `_speedups_writer.c`) */
    .m_traverse = writer_traverse,
    .m_clear = writer_clear,
    .m_free = writer_free,
    .m_methods = speedups_functions,
    .m_slots = speedups_slots,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    init_classes(); /* constant tables, the same for every interpreter */
    speedups_module.m_size = writer_state_size;
    return PyModuleDef_Init(&speedups_module);
}
