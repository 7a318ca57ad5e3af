/* libFuzzer target for the native response writer (`src/monoceros/http/_speedups_writer.c`), built with
   AddressSanitizer and UndefinedBehaviorSanitizer by `make fuzz-native`.

   The writer's source is compiled into this file (with the scanner's, for the character tables), so its
   methods run instrumented on writers made by the imported module's type (the same struct). An input is
   a response: its first byte chooses the request (HEAD or not, HTTP/1.0 or 1.1, keep-alive), whether the
   server is stopping, whether the body goes out whole or in pieces, with or without trailers, and the
   container of the headers; the rest, read as latin-1 text ("\xfe\xff" standing for a character past
   latin-1), is the status line, then header lines `name:value` up to an empty line (a line starting with
   `!` is an item that is not a pair), then body pieces, one a line. Every input runs twice on one shared
   `Caches`, so that the second run reads what the first stored. The errors the reference raises
   (LocalProtocolError, TypeError, ValueError) are expected; any other exception, or output that is not
   bytes, aborts. */

#include "../../src/monoceros/http/_speedups.c"
#include "../../src/monoceros/http/_speedups_writer.c"

static PyObject *writer_type, *caches, *server, *expected[3];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    init_classes(); /* this file's copy of the tables (the module's own are set by its import) */
    Py_Initialize();
    /* `monoceros.http` binds the module's writer to the reference functions (`_native.py`) */
    PyObject *http = PyImport_ImportModule("monoceros.http");
    PyObject *speedups = PyImport_ImportModule("monoceros.http._speedups");
    if (http == NULL || speedups == NULL) {
        PyErr_Print();
        abort();
    }
    writer_type = PyObject_GetAttrString(speedups, "ResponseWriter");
    PyObject *caches_type = PyObject_GetAttrString(http, "Caches");
    caches = caches_type == NULL ? NULL : PyObject_CallNoArgs(caches_type);
    server = PyBytes_FromString("monoceros");
    expected[0] = PyObject_GetAttrString(http, "LocalProtocolError");
    expected[1] = PyExc_TypeError;
    expected[2] = PyExc_ValueError;
    if (writer_type == NULL || caches == NULL || expected[0] == NULL) {
        PyErr_Print();
        abort();
    }
    Py_DECREF(caches_type);
    Py_DECREF(speedups);
    Py_DECREF(http);
    return 0;
}

/* NULL result: an expected error is cleared (1: go on), anything else aborts. */
static int
check(PyObject *result)
{
    if (result != NULL) {
        if (result != Py_None && !PyBytes_CheckExact(result)) {
            abort();
        }
        Py_DECREF(result);
        return 1;
    }
    for (int i = 0; i < 3; i++) {
        if (PyErr_ExceptionMatches(expected[i])) {
            PyErr_Clear();
            return 0;
        }
    }
    PyErr_Print();
    abort();
}

static PyObject *
text_of(const char *p, Py_ssize_t n)
{
    PyObject *s = PyUnicode_DecodeLatin1(p, n, NULL);
    if (s == NULL) {
        abort();
    }
    PyObject *mark = PyUnicode_FromString("\xc3\xbe\xc3\xbf"); /* "\xfe\xff" */
    PyObject *wide = PyUnicode_FromString("\xc4\x80");            /* U+0100 */
    PyObject *out = PyUnicode_Replace(s, mark, wide, -1);
    Py_DECREF(s);
    Py_DECREF(mark);
    Py_DECREF(wide);
    if (out == NULL) {
        abort();
    }
    return out;
}

/* The header item of one line: (name, value), or an int for a line starting with `!`. */
static PyObject *
field_of(const char *p, Py_ssize_t n)
{
    if (n && p[0] == '!') {
        return PyLong_FromSsize_t(n);
    }
    const char *colon = memchr(p, ':', (size_t)n);
    Py_ssize_t nn = colon == NULL ? n : colon - p;
    PyObject *name = text_of(p, nn);
    PyObject *value = colon == NULL ? PyUnicode_FromString("") : text_of(colon + 1, n - nn - 1);
    return Py_BuildValue("(NN)", name, value);
}

static void
respond(unsigned char flags, const char *text, Py_ssize_t size)
{
    const char *end = text + size, *p = text;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    Py_ssize_t n = (nl == NULL ? end : nl) - p;
    PyObject *status = text_of(p, n);
    p = nl == NULL ? end : nl + 1;
    PyObject *headers = PyList_New(0);
    while (p < end) {
        nl = memchr(p, '\n', (size_t)(end - p));
        n = (nl == NULL ? end : nl) - p;
        const char *line = p;
        p = nl == NULL ? end : nl + 1;
        if (n == 0) {
            break;
        }
        PyObject *field = field_of(line, n);
        if (field == NULL || PyList_Append(headers, field) < 0) {
            abort();
        }
        Py_DECREF(field);
    }
    PyObject *pieces = PyList_New(0);
    while (p < end) {
        nl = memchr(p, '\n', (size_t)(end - p));
        n = (nl == NULL ? end : nl) - p;
        PyObject *piece = PyBytes_FromStringAndSize(p, n);
        if (piece == NULL || PyList_Append(pieces, piece) < 0) {
            abort();
        }
        Py_DECREF(piece);
        p = nl == NULL ? end : nl + 1;
    }
    if (flags & 128) {
        Py_SETREF(headers, PyList_AsTuple(headers));
    }
    PyObject *writer = PyObject_CallFunction(writer_type, "s(ii)iOO", (flags & 1) ? "HEAD" : "GET", 1,
                                             (flags & 2) ? 0 : 1, (flags & 4) ? 1 : 0,
                                             (flags & 64) ? Py_None : server, caches);
    if (writer == NULL) {
        PyErr_Print();
        abort();
    }
    Writer *w = (Writer *)writer;
    PyObject *start_args[2] = {status, headers};
    if (check(Writer_start(w, start_args, 2))) {
        if (flags & 8) {
            w->closing = 1;
        }
        if (flags & 16) {
            PyObject *body_bytes = PyList_GET_SIZE(pieces) ? PyList_GET_ITEM(pieces, 0) : NULL;
            PyObject *empty = PyBytes_FromStringAndSize(NULL, 0);
            check(Writer_whole(w, body_bytes == NULL ? empty : body_bytes));
            Py_DECREF(empty);
        }
        else if (check(Writer_head(w, NULL))) {
            for (Py_ssize_t i = 0; i < PyList_GET_SIZE(pieces); i++) {
                check(Writer_body(w, PyList_GET_ITEM(pieces, i)));
            }
            PyObject *end_args[1] = {headers};
            check(Writer_end(w, end_args, (flags & 32) ? 1 : 0));
        }
        /* and out of order, once done */
        check(Writer_head(w, NULL));
        check(Writer_end(w, NULL, 0));
    }
    Py_DECREF(writer);
    Py_DECREF(pieces);
    Py_DECREF(headers);
    Py_DECREF(status);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    for (int round = 0; round < 2; round++) {
        respond(data[0], (const char *)data + 1, (Py_ssize_t)size - 1);
    }
    return 0;
}
