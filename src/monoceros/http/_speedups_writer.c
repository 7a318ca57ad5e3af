/* The native response-head builder: `ResponseWriter` as `_writer.py` defines it (that module is the
   reference, and its docstring gives the rules), for the response every request ends with.

   The same methods and attributes, the same bytes out and the same `LocalProtocolError` for the same
   input. Status and header lists are validated here when they are plain: a str status `NNN reason` of
   latin-1 characters, header lists whose items are (str, str) tuples of latin-1 characters with a valid
   name and value, Content-Length as digits, and no `Connection` or `Upgrade` header from the app (the
   other hop-by-hop headers, `Server` and `Date` are dropped here). Anything else goes to the Python
   functions `bind()` was given (`_writer._parse_status` and `_fields`), which accept it the way the
   reference does or raise with the reference's message, so every refusal and every leniency is
   decided in one place. What both derive goes into the worker's `Caches`, shared by the two writers.

   Framing, keep-alive, the connection header, chunking, Content-Length cuts and the `Date` line (cached
   per second in the module state) are all done here. The GIL is held throughout. */

#include "_speedups.h"

#include <structmember.h>
#include <string.h>
#include <time.h>

/* The life cycle of `_writer.py`: NEW -start()-> STARTED -head()-> HEAD_SENT -end()-> ENDED, or STARTED
   -whole()-> ENDED. */
enum { NEW, STARTED, HEAD_SENT, ENDED };

typedef struct {
    PyObject *error;          /* _errors.LocalProtocolError */
    PyObject *parse_status;   /* _writer._parse_status(status, lines) */
    PyObject *fields;         /* _writer._fields(headers, lists) */
    PyObject *server_line;    /* _writer._server_line(server, lines) */
    PyObject *without_length; /* _writer._without_length(kept): the block with Content-Length left out */
    PyObject *trailer_block;  /* _writer._trailer_block(trailers) */
    PyObject *caches_type;    /* _caches.Caches */
    Py_ssize_t status_size, lists_size;
    PyObject *status_lines, *header_lists, *server_lines; /* the attribute names, interned */
    time_t date_second;
    PyObject *date_line; /* b"Date: ...\r\n" of date_second */
} State;

const Py_ssize_t writer_state_size = sizeof(State);

typedef struct {
    PyObject_HEAD
    PyObject *method;
    PyObject *version;
    PyObject *caches;
    PyObject *server_line; /* bytes, maybe empty */
    PyObject *status_line; /* bytes; NULL before start() */
    PyObject *fields;      /* the encoded header block; NULL before start() */
    Py_ssize_t content_length; /* -1: none */
    Py_ssize_t bytes_sent;
    int status_code;
    char keep_alive, chunked, upgrade, closing, ended;
    char no_body, http11, head_method, state;
} Writer;

static State *
state_of(PyObject *module)
{
    return (State *)PyModule_GetState(module);
}

static State *
writer_state(Writer *self)
{
    return (State *)PyType_GetModuleState(Py_TYPE(self));
}

static int
bound(State *st)
{
    if (st->error == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "monoceros.http._speedups.bind() was not called");
        return 0;
    }
    return 1;
}

/* Raise LocalProtocolError(500, message); NULL. */
static PyObject *
refuse(State *st, PyObject *message)
{
    if (message != NULL) {
        PyObject *exc = PyObject_CallFunction(st->error, "iO", 500, message);
        Py_DECREF(message);
        if (exc != NULL) {
            PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
            Py_DECREF(exc);
        }
    }
    return NULL;
}

static PyObject *
refuse_text(State *st, const char *message)
{
    return refuse(st, PyUnicode_FromString(message));
}

/* -- the Date line --------------------------------------------------------------------------------- */

static const char DAYS[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char MONTHS[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* The `Date` line of this second (RFC 9110 §5.6.7 IMF-fixdate), as `_date.date_line`; borrowed. */
static PyObject *
date_line(State *st)
{
    struct timespec now;
    /* CLOCK_REALTIME, as time.time(): the same second as the Python writer's at every moment */
    if (clock_gettime(CLOCK_REALTIME, &now) != 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return NULL;
    }
    if (st->date_line != NULL && now.tv_sec == st->date_second) {
        return st->date_line;
    }
    struct tm tm;
    if (gmtime_r(&now.tv_sec, &tm) == NULL) {
        PyErr_SetString(PyExc_OverflowError, "the clock is outside what gmtime can tell");
        return NULL;
    }
    char text[64];
    int n = snprintf(text, sizeof(text), "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n", DAYS[tm.tm_wday],
                     tm.tm_mday, MONTHS[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    PyObject *line = PyBytes_FromStringAndSize(text, n);
    if (line == NULL) {
        return NULL;
    }
    Py_XSETREF(st->date_line, line);
    st->date_second = now.tv_sec;
    return line;
}

/* -- validation ------------------------------------------------------------------------------------ */

/* A str whose characters are all latin-1 (one byte each), as a byte pointer; NULL otherwise. */
static const unsigned char *
latin1(PyObject *s, Py_ssize_t *n)
{
    if (!PyUnicode_CheckExact(s) || PyUnicode_KIND(s) != PyUnicode_1BYTE_KIND) {
        return NULL;
    }
    *n = PyUnicode_GET_LENGTH(s);
    return PyUnicode_1BYTE_DATA(s);
}

static int
all_of(const unsigned char *p, Py_ssize_t n, unsigned char kind)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!(speedups_classes[p[i]] & kind)) {
            return 0;
        }
    }
    return 1;
}

/* (code, HTTP/1.1 status line, HTTP/1.0 status line) of `status`, put in `lines` while it has room; a new
   reference, or NULL on an error. A status not plain here is `_writer._parse_status`'s to judge. */
static PyObject *
status_entry(State *st, PyObject *status, PyObject *lines)
{
    Py_ssize_t n;
    const unsigned char *s = latin1(status, &n);
    if (s == NULL || n < 3 || s[0] < '1' || s[0] > '5' || s[1] < '0' || s[1] > '9' || s[2] < '0' ||
        s[2] > '9' || (n > 3 && (s[3] != ' ' || !all_of(s + 4, n - 4, CONTENT)))) {
        return PyObject_CallFunctionObjArgs(st->parse_status, status, lines, NULL);
    }
    /* RFC 9112 §4: the space after the code stays even without a reason phrase */
    const char *tail = n == 3 ? " \r\n" : "\r\n";
    Py_ssize_t size = 9 + n + (Py_ssize_t)strlen(tail);
    PyObject *line11 = PyBytes_FromStringAndSize(NULL, size);
    PyObject *line10 = PyBytes_FromStringAndSize(NULL, size);
    if (line11 == NULL || line10 == NULL) {
        Py_XDECREF(line11);
        Py_XDECREF(line10);
        return NULL;
    }
    char *p11 = PyBytes_AS_STRING(line11), *p10 = PyBytes_AS_STRING(line10);
    memcpy(p11, "HTTP/1.1 ", 9);
    memcpy(p11 + 9, s, (size_t)n);
    memcpy(p11 + 9 + n, tail, strlen(tail));
    memcpy(p10, p11, (size_t)size);
    p10[7] = '0';
    int code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
    PyObject *entry = Py_BuildValue("(iNN)", code, line11, line10);
    if (entry != NULL && PyDict_GET_SIZE(lines) < st->status_size && PyDict_SetItem(lines, status, entry) < 0) {
        Py_CLEAR(entry);
    }
    return entry;
}

static int
lower_is(const unsigned char *p, const char *word)
{
    /* `p` holds tchars only: the one tchar that ORs to a lower-case letter is its upper-case form */
    for (size_t i = 0; word[i]; i++) {
        if ((p[i] | 0x20) != (unsigned char)word[i]) {
            return 0;
        }
    }
    return 1;
}

/* What a response header name is to the filter (`_writer._SPECIAL`). */
enum { KEEP, DROP, DEFER, LENGTH };

static int
header_kind(const unsigned char *p, Py_ssize_t n)
{
    switch (n) {
    case 2:
        return lower_is(p, "te") ? DROP : KEEP;
    case 4:
        return lower_is(p, "date") ? DROP : KEEP;
    case 6:
        return lower_is(p, "server") ? DROP : KEEP;
    case 7:
        return lower_is(p, "trailer") ? DROP : lower_is(p, "upgrade") ? DEFER : KEEP;
    case 8:
        return lower_is(p, "trailers") ? DROP : KEEP;
    case 10:
        return lower_is(p, "connection") ? DEFER : lower_is(p, "keep-alive") ? DROP : KEEP;
    case 14:
        return lower_is(p, "content-length") ? LENGTH : KEEP;
    case 17:
        return lower_is(p, "transfer-encoding") ? DROP : KEEP;
    case 18:
        return lower_is(p, "proxy-authenticate") ? DROP : KEEP;
    case 19:
        return lower_is(p, "proxy-authorization") ? DROP : KEEP;
    default:
        return KEEP;
    }
}

/* Digits between optional SP/HTAB, at most 18 of them (so it fits); -1 otherwise. */
static Py_ssize_t
plain_length(const unsigned char *p, Py_ssize_t n)
{
    while (n && (p[0] == ' ' || p[0] == '\t')) {
        p++;
        n--;
    }
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t')) {
        n--;
    }
    if (n == 0 || n > 18) {
        return -1;
    }
    Py_ssize_t value = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }
        value = value * 10 + (p[i] - '0');
    }
    return value;
}

/* (kept, length, upgrade, encoded) of the header tuple `key`, as `_writer._fields` derives it, put in
   `lists` while it has room; a new reference, NULL on an error, or NULL with `*defer` set (no error) when
   the list is not plain here. */
static PyObject *
fields_entry(State *st, PyObject *key, PyObject *lists, int *defer)
{
    Py_ssize_t count = PyTuple_GET_SIZE(key);
    Py_ssize_t size = 0, length = -1;
    PyObject *kept = PyList_New(0);
    if (kept == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *field = PyTuple_GET_ITEM(key, i);
        Py_ssize_t nn, nv;
        const unsigned char *name, *value;
        if (!PyTuple_CheckExact(field) || PyTuple_GET_SIZE(field) != 2 ||
            (name = latin1(PyTuple_GET_ITEM(field, 0), &nn)) == NULL ||
            (value = latin1(PyTuple_GET_ITEM(field, 1), &nv)) == NULL || nn == 0 || !all_of(name, nn, TCHAR) ||
            !all_of(value, nv, CONTENT)) {
            goto defer;
        }
        int kind = header_kind(name, nn);
        if (kind == DEFER) {
            goto defer;
        }
        if (kind == DROP) {
            continue;
        }
        if (kind == LENGTH) {
            Py_ssize_t this = plain_length(value, nv);
            if (this < 0 || (length >= 0 && this != length)) {
                goto defer;
            }
            if (length >= 0) {
                continue; /* an identical repeat adds nothing */
            }
            length = this;
        }
        if (PyList_Append(kept, field) < 0) {
            Py_DECREF(kept);
            return NULL;
        }
        size += nn + 2 + nv + 2;
    }
    PyObject *encoded = PyBytes_FromStringAndSize(NULL, size);
    if (encoded == NULL) {
        Py_DECREF(kept);
        return NULL;
    }
    char *out = PyBytes_AS_STRING(encoded);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(kept); i++) {
        PyObject *field = PyList_GET_ITEM(kept, i);
        Py_ssize_t nn = PyUnicode_GET_LENGTH(PyTuple_GET_ITEM(field, 0));
        Py_ssize_t nv = PyUnicode_GET_LENGTH(PyTuple_GET_ITEM(field, 1));
        memcpy(out, PyUnicode_1BYTE_DATA(PyTuple_GET_ITEM(field, 0)), (size_t)nn);
        out += nn;
        *out++ = ':';
        *out++ = ' ';
        memcpy(out, PyUnicode_1BYTE_DATA(PyTuple_GET_ITEM(field, 1)), (size_t)nv);
        out += nv;
        *out++ = '\r';
        *out++ = '\n';
    }
    PyObject *length_obj = length >= 0 ? PyLong_FromSsize_t(length) : Py_NewRef(Py_None);
    PyObject *entry = Py_BuildValue("(NNON)", kept, length_obj, Py_False, encoded);
    if (entry != NULL && PyDict_GET_SIZE(lists) < st->lists_size && PyDict_SetItem(lists, key, entry) < 0) {
        Py_CLEAR(entry);
    }
    return entry;
defer:
    Py_DECREF(kept);
    *defer = 1;
    return NULL;
}

/* -- the writer ------------------------------------------------------------------------------------ */

static const char KEEP_ALIVE[] = "Connection: keep-alive\r\n";
static const char CLOSE[] = "Connection: close\r\n";
static const char UPGRADE[] = "Connection: upgrade\r\n";
static const char CHUNKED[] = "Transfer-Encoding: chunked\r\n";

/* The Connection line the head goes out with; settles keep_alive when the server is stopping. */
static const char *
connection_line(Writer *self, Py_ssize_t *n)
{
    const char *line;
    if (self->upgrade) {
        line = UPGRADE;
    }
    else {
        if (self->closing) {
            self->keep_alive = 0;
        }
        line = self->keep_alive ? KEEP_ALIVE : CLOSE;
    }
    *n = (Py_ssize_t)strlen(line);
    return line;
}

/* The head (and, for whole(), the body after it) as one bytes object. */
static PyObject *
compose(Writer *self, State *st, int chunked, const char *body, Py_ssize_t body_size)
{
    PyObject *date = date_line(st);
    if (date == NULL) {
        return NULL;
    }
    Py_INCREF(date); /* (the cache may move on to the next second under a later call) */
    Py_ssize_t nconn;
    const char *conn = connection_line(self, &nconn);
    Py_ssize_t nstatus = PyBytes_GET_SIZE(self->status_line), nserver = PyBytes_GET_SIZE(self->server_line);
    Py_ssize_t ndate = PyBytes_GET_SIZE(date), nfields = PyBytes_GET_SIZE(self->fields);
    Py_ssize_t nchunked = chunked ? (Py_ssize_t)sizeof(CHUNKED) - 1 : 0;
    PyObject *out = PyBytes_FromStringAndSize(
        NULL, nstatus + nserver + ndate + nconn + nchunked + nfields + 2 + body_size);
    if (out == NULL) {
        Py_DECREF(date);
        return NULL;
    }
    char *p = PyBytes_AS_STRING(out);
    memcpy(p, PyBytes_AS_STRING(self->status_line), (size_t)nstatus);
    p += nstatus;
    memcpy(p, PyBytes_AS_STRING(self->server_line), (size_t)nserver);
    p += nserver;
    memcpy(p, PyBytes_AS_STRING(date), (size_t)ndate);
    p += ndate;
    memcpy(p, conn, (size_t)nconn);
    p += nconn;
    memcpy(p, CHUNKED, (size_t)nchunked);
    p += nchunked;
    memcpy(p, PyBytes_AS_STRING(self->fields), (size_t)nfields);
    p += nfields;
    *p++ = '\r';
    *p++ = '\n';
    if (body_size) {
        memcpy(p, body, (size_t)body_size);
    }
    Py_DECREF(date);
    return out;
}

static int
check_args(Py_ssize_t nargs, Py_ssize_t low, Py_ssize_t high, const char *usage)
{
    if (nargs < low || nargs > high) {
        PyErr_Format(PyExc_TypeError, "%s", usage);
        return 0;
    }
    return 1;
}

/* A dict attribute of the caches (a new reference). */
static PyObject *
cache_dict(Writer *self, PyObject *name)
{
    PyObject *d = PyObject_GetAttr(self->caches, name);
    if (d != NULL && !PyDict_Check(d)) {
        PyErr_Format(PyExc_TypeError, "caches.%U must be a dict", name);
        Py_CLEAR(d);
    }
    return d;
}

/* `lists[key]` or `lines[status]`: a new reference, NULL with no error when absent or unhashable (the
   Python functions then say what is wrong with it), NULL with an error otherwise. */
static PyObject *
cached(PyObject *dict, PyObject *key)
{
    PyObject *entry = PyDict_GetItemWithError(dict, key);
    if (entry != NULL) {
        Py_INCREF(entry);
        return entry;
    }
    if (PyErr_Occurred() && PyErr_ExceptionMatches(PyExc_TypeError)) {
        PyErr_Clear();
    }
    return NULL;
}

static PyObject *
Writer_start(Writer *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (!check_args(nargs, 2, 2, "start(status, headers)")) {
        return NULL;
    }
    State *st = writer_state(self);
    if (self->state >= HEAD_SENT) {
        return refuse_text(st, "the response head was already sent");
    }
    PyObject *status = args[0], *headers = args[1];
    PyObject *lines = NULL, *lists = NULL, *entry = NULL, *key = NULL, *fields = NULL, *result = NULL;
    if ((lines = cache_dict(self, st->status_lines)) == NULL) {
        goto done;
    }
    entry = cached(lines, status);
    if (entry == NULL) {
        if (PyErr_Occurred() || (entry = status_entry(st, status, lines)) == NULL) {
            goto done;
        }
    }
    if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 3 || !PyBytes_CheckExact(PyTuple_GET_ITEM(entry, 1)) ||
        !PyBytes_CheckExact(PyTuple_GET_ITEM(entry, 2))) {
        PyErr_SetString(PyExc_SystemError, "a status entry is not (code, line11, line10)");
        goto done;
    }
    if ((lists = cache_dict(self, st->header_lists)) == NULL) {
        goto done;
    }
    if (PyTuple_CheckExact(headers)) {
        key = Py_NewRef(headers);
    }
    else if ((key = PySequence_Tuple(headers)) == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_TypeError)) {
            goto done;
        }
        PyErr_Clear(); /* not iterable: `_fields` raises the reference's error */
        if ((fields = PyObject_CallFunctionObjArgs(st->fields, headers, lists, NULL)) == NULL) {
            goto done;
        }
    }
    if (fields == NULL) {
        fields = cached(lists, key);
    }
    if (fields == NULL && !PyErr_Occurred()) {
        int defer = 0;
        fields = fields_entry(st, key, lists, &defer);
        if (defer) {
            fields = PyObject_CallFunctionObjArgs(st->fields, key, lists, NULL);
        }
    }
    if (fields == NULL) {
        goto done;
    }
    if (!PyTuple_CheckExact(fields) || PyTuple_GET_SIZE(fields) != 4 ||
        !PyBytes_CheckExact(PyTuple_GET_ITEM(fields, 3))) {
        PyErr_SetString(PyExc_SystemError, "a header entry is not (kept, length, upgrade, encoded)");
        goto done;
    }
    long code = PyLong_AsLong(PyTuple_GET_ITEM(entry, 0));
    if (code == -1 && PyErr_Occurred()) {
        goto done;
    }
    PyObject *length_obj = PyTuple_GET_ITEM(fields, 1);
    Py_ssize_t length = -1;
    if (length_obj != Py_None) {
        length = PyLong_AsSsize_t(length_obj);
        if (length < 0) {
            if (PyErr_Occurred()) {
                goto done;
            }
            PyErr_SetString(PyExc_SystemError, "a negative Content-Length in a header entry");
            goto done;
        }
    }
    int upgrade = PyObject_IsTrue(PyTuple_GET_ITEM(fields, 2));
    if (upgrade < 0) {
        goto done;
    }
    PyObject *encoded = Py_NewRef(PyTuple_GET_ITEM(fields, 3));
    /* Body framing and keep-alive (rules 3 and 4 of `_writer.py`'s docstring). */
    int informational = code < 200;
    int no_body = informational || code == 204 || code == 304 || self->head_method;
    if (length >= 0 && (informational || code == 204)) {
        Py_SETREF(encoded, PyObject_CallOneArg(st->without_length, PyTuple_GET_ITEM(fields, 0)));
        if (encoded == NULL) {
            goto done;
        }
        if (!PyBytes_CheckExact(encoded)) {
            Py_DECREF(encoded);
            PyErr_SetString(PyExc_SystemError, "_without_length did not give bytes");
            goto done;
        }
        length = -1;
    }
    int chunked = length < 0 && !no_body && self->http11;
    int knowable = length >= 0 || chunked || no_body;
    self->no_body = (char)no_body;
    self->content_length = length;
    self->upgrade = (char)upgrade;
    self->chunked = (char)chunked;
    self->keep_alive = (char)(self->keep_alive && knowable && !informational && !upgrade);
    self->bytes_sent = 0;
    Py_XSETREF(self->status_line, Py_NewRef(PyTuple_GET_ITEM(entry, self->http11 ? 1 : 2)));
    Py_XSETREF(self->fields, encoded);
    self->status_code = (int)code;
    self->state = STARTED;
    result = Py_NewRef(Py_None);
done:
    Py_XDECREF(lines);
    Py_XDECREF(lists);
    Py_XDECREF(entry);
    Py_XDECREF(key);
    Py_XDECREF(fields);
    return result;
}

static PyObject *
head(Writer *self, State *st)
{
    if (self->state != STARTED) {
        return refuse_text(st, "head() needs start() and may be called once");
    }
    self->state = HEAD_SENT;
    return compose(self, st, self->chunked, NULL, 0);
}

static PyObject *
Writer_head(Writer *self, PyObject *unused)
{
    return head(self, writer_state(self));
}

static PyObject *
body(Writer *self, State *st, PyObject *data)
{
    if (self->state != HEAD_SENT) {
        return refuse_text(st, "body() must come after head() and before end()");
    }
    if (!PyBytes_Check(data)) {
        /* the type's __name__, as the reference says it (tp_name would add the module) */
        PyObject *name = PyObject_GetAttrString((PyObject *)Py_TYPE(data), "__name__");
        if (name == NULL) {
            return NULL;
        }
        PyObject *message = PyUnicode_FromFormat("response body chunks must be bytes, not %S", name);
        Py_DECREF(name);
        return refuse(st, message);
    }
    Py_ssize_t size = PyBytes_GET_SIZE(data);
    if (self->no_body || size == 0) {
        return PyBytes_FromStringAndSize(NULL, 0);
    }
    int cut = 0;
    if (self->content_length >= 0) {
        Py_ssize_t left = self->content_length - self->bytes_sent;
        if (size > left) {
            size = left;
            cut = 1;
        }
    }
    self->bytes_sent += size;
    if (self->chunked) {
        char line[24];
        int n = snprintf(line, sizeof(line), "%zX\r\n", size);
        PyObject *out = PyBytes_FromStringAndSize(NULL, n + size + 2);
        if (out == NULL) {
            return NULL;
        }
        char *p = PyBytes_AS_STRING(out);
        memcpy(p, line, (size_t)n);
        memcpy(p + n, PyBytes_AS_STRING(data), (size_t)size);
        memcpy(p + n + size, "\r\n", 2);
        return out;
    }
    if (cut) {
        return PyBytes_FromStringAndSize(PyBytes_AS_STRING(data), size);
    }
    return Py_NewRef(data);
}

static PyObject *
Writer_body(Writer *self, PyObject *data)
{
    return body(self, writer_state(self), data);
}

static int
complete(Writer *self)
{
    return self->content_length < 0 || self->no_body || self->content_length == self->bytes_sent;
}

static PyObject *
end(Writer *self, State *st, PyObject *trailers)
{
    if (self->state != HEAD_SENT) {
        return refuse_text(st, "end() must come after head(), once");
    }
    PyObject *block = NULL;
    if (trailers != NULL && self->chunked) {
        int any = PyObject_IsTrue(trailers);
        if (any < 0) {
            return NULL;
        }
        if (any) {
            block = PyObject_CallOneArg(st->trailer_block, trailers);
            if (block == NULL) {
                return NULL;
            }
            if (!PyBytes_CheckExact(block)) {
                Py_DECREF(block);
                PyErr_SetString(PyExc_SystemError, "_trailer_block did not give bytes");
                return NULL;
            }
        }
    }
    self->state = ENDED;
    self->ended = 1;
    if (!complete(self)) {
        self->keep_alive = 0;
    }
    if (!self->chunked) {
        Py_XDECREF(block);
        return PyBytes_FromStringAndSize(NULL, 0);
    }
    Py_ssize_t n = block == NULL ? 0 : PyBytes_GET_SIZE(block);
    PyObject *out = PyBytes_FromStringAndSize(NULL, 3 + n + 2);
    if (out != NULL) {
        char *p = PyBytes_AS_STRING(out);
        memcpy(p, "0\r\n", 3);
        if (n) {
            memcpy(p + 3, PyBytes_AS_STRING(block), (size_t)n);
        }
        memcpy(p + 3 + n, "\r\n", 2);
    }
    Py_XDECREF(block);
    return out;
}

static PyObject *
Writer_end(Writer *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (!check_args(nargs, 0, 1, "end(trailers=())")) {
        return NULL;
    }
    return end(self, writer_state(self), nargs ? args[0] : NULL);
}

/* head() + body(data) + end(), each with its own checks, for what whole() does not take flat. */
static PyObject *
whole_in_steps(Writer *self, State *st, PyObject *data)
{
    PyObject *parts[3] = {NULL, NULL, NULL}, *out = NULL;
    if ((parts[0] = head(self, st)) == NULL || (parts[1] = body(self, st, data)) == NULL ||
        (parts[2] = end(self, st, NULL)) == NULL) {
        goto done;
    }
    Py_ssize_t n0 = PyBytes_GET_SIZE(parts[0]), n1 = PyBytes_GET_SIZE(parts[1]), n2 = PyBytes_GET_SIZE(parts[2]);
    out = PyBytes_FromStringAndSize(NULL, n0 + n1 + n2);
    if (out != NULL) {
        char *p = PyBytes_AS_STRING(out);
        memcpy(p, PyBytes_AS_STRING(parts[0]), (size_t)n0);
        memcpy(p + n0, PyBytes_AS_STRING(parts[1]), (size_t)n1);
        memcpy(p + n0 + n1, PyBytes_AS_STRING(parts[2]), (size_t)n2);
    }
done:
    for (int i = 0; i < 3; i++) {
        Py_XDECREF(parts[i]);
    }
    return out;
}

static PyObject *
Writer_whole(Writer *self, PyObject *data)
{
    State *st = writer_state(self);
    if (self->state != STARTED || !PyBytes_CheckExact(data) || self->chunked) {
        return whole_in_steps(self, st, data);
    }
    self->state = ENDED;
    self->ended = 1;
    Py_ssize_t size = PyBytes_GET_SIZE(data);
    if (self->no_body) {
        size = 0;
    }
    else if (self->content_length >= 0 && size != self->content_length) {
        if (size > self->content_length) {
            size = self->content_length;
        }
        else {
            self->keep_alive = 0; /* short of its Content-Length: the connection cannot go on */
        }
    }
    self->bytes_sent = size;
    return compose(self, st, 0, PyBytes_AS_STRING(data), size);
}

/* -- construction ---------------------------------------------------------------------------------- */

static int
setup(Writer *self, State *st, PyObject *method, PyObject *version, int keep_alive, PyObject *server,
      PyObject *caches)
{
    if (!bound(st)) {
        return -1;
    }
    long major, minor;
    if (!PyTuple_Check(version) || PyTuple_GET_SIZE(version) != 2 ||
        ((major = PyLong_AsLong(PyTuple_GET_ITEM(version, 0))) == -1 && PyErr_Occurred()) ||
        ((minor = PyLong_AsLong(PyTuple_GET_ITEM(version, 1))) == -1 && PyErr_Occurred())) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "version must be a (major, minor) tuple of ints");
        }
        return -1;
    }
    self->http11 = (char)(major > 1 || (major == 1 && minor >= 1));
    self->head_method = (char)(PyUnicode_Check(method) && PyUnicode_CompareWithASCIIString(method, "HEAD") == 0);
    self->method = Py_NewRef(method);
    self->version = Py_NewRef(version);
    self->keep_alive = (char)keep_alive;
    self->content_length = -1;
    if (caches == NULL || caches == Py_None) {
        caches = PyObject_CallNoArgs(st->caches_type);
        if (caches == NULL) {
            return -1;
        }
    }
    else {
        Py_INCREF(caches);
    }
    self->caches = caches;
    if (server == Py_None) {
        self->server_line = PyBytes_FromStringAndSize(NULL, 0);
        return self->server_line == NULL ? -1 : 0;
    }
    PyObject *lines = cache_dict(self, st->server_lines);
    if (lines == NULL) {
        return -1;
    }
    PyObject *line = cached(lines, server);
    if (line == NULL && !PyErr_Occurred()) {
        line = PyObject_CallFunctionObjArgs(st->server_line, server, lines, NULL);
    }
    Py_DECREF(lines);
    if (line != NULL && !PyBytes_CheckExact(line)) {
        PyErr_SetString(PyExc_SystemError, "a server line is not bytes");
        Py_CLEAR(line);
    }
    self->server_line = line;
    return line == NULL ? -1 : 0;
}

static PyObject *
Writer_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"method", "version", "keep_alive", "server", "caches", NULL};
    PyObject *method, *version, *server = NULL, *caches = NULL;
    int keep_alive;
    if (kwargs == NULL && PyTuple_GET_SIZE(args) == 5) {
        /* The connection's call, once a request: five positional arguments. Unpacked here, since the
           keyword parser costs more than the rest of the constructor. */
        method = PyTuple_GET_ITEM(args, 0);
        version = PyTuple_GET_ITEM(args, 1);
        keep_alive = PyObject_IsTrue(PyTuple_GET_ITEM(args, 2));
        server = PyTuple_GET_ITEM(args, 3);
        caches = PyTuple_GET_ITEM(args, 4);
        if (keep_alive < 0) {
            return NULL;
        }
    }
    else if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOp|OO:ResponseWriter", kwlist, &method, &version,
                                          &keep_alive, &server, &caches)) {
        return NULL;
    }
    State *st = (State *)PyType_GetModuleState(type);
    if (st == NULL) {
        return NULL;
    }
    Writer *self = (Writer *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    PyObject *default_server = NULL;
    if (server == NULL) {
        server = default_server = PyBytes_FromString("monoceros");
        if (server == NULL) {
            Py_DECREF(self);
            return NULL;
        }
    }
    int failed = setup(self, st, method, version, keep_alive, server, caches);
    Py_XDECREF(default_server);
    if (failed) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static void
Writer_dealloc(Writer *self)
{
    PyTypeObject *type = Py_TYPE(self);
    Py_XDECREF(self->method);
    Py_XDECREF(self->version);
    Py_XDECREF(self->caches);
    Py_XDECREF(self->server_line);
    Py_XDECREF(self->status_line);
    Py_XDECREF(self->fields);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

/* -- attributes ------------------------------------------------------------------------------------ */

static PyObject *
get_content_length(Writer *self, void *unused)
{
    return self->content_length < 0 ? Py_NewRef(Py_None) : PyLong_FromSsize_t(self->content_length);
}

static PyObject *
get_head_sent(Writer *self, void *unused)
{
    return PyBool_FromLong(self->state >= HEAD_SENT);
}

static PyObject *
get_remaining(Writer *self, void *unused)
{
    if (self->content_length < 0 || self->no_body) {
        return Py_NewRef(Py_None);
    }
    return PyLong_FromSsize_t(self->content_length - self->bytes_sent);
}

static PyObject *
get_complete(Writer *self, void *unused)
{
    return PyBool_FromLong(complete(self));
}

static PyGetSetDef Writer_getset[] = {
    {"content_length", (getter)get_content_length, NULL, "the Content-Length sent, or None", NULL},
    {"head_sent", (getter)get_head_sent, NULL, "the head went out (head() or whole() ran)", NULL},
    {"remaining", (getter)get_remaining, NULL, "body bytes still owed under Content-Length, or None", NULL},
    {"complete", (getter)get_complete, NULL, "False while a Content-Length body is short", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef Writer_members[] = {
    {"method", T_OBJECT, offsetof(Writer, method), READONLY, NULL},
    {"version", T_OBJECT, offsetof(Writer, version), READONLY, NULL},
    {"status_code", T_INT, offsetof(Writer, status_code), 0, NULL},
    {"bytes_sent", T_PYSSIZET, offsetof(Writer, bytes_sent), 0, NULL},
    {"keep_alive", T_BOOL, offsetof(Writer, keep_alive), 0, NULL},
    {"chunked", T_BOOL, offsetof(Writer, chunked), READONLY, NULL},
    {"upgrade", T_BOOL, offsetof(Writer, upgrade), READONLY, NULL},
    {"closing", T_BOOL, offsetof(Writer, closing), 0, NULL},
    {"ended", T_BOOL, offsetof(Writer, ended), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyMethodDef Writer_methods[] = {
    {"start", (PyCFunction)(void (*)(void))Writer_start, METH_FASTCALL,
     "start(status, headers): validate and record the status and headers"},
    {"head", (PyCFunction)Writer_head, METH_NOARGS, "head(): the status line and header block, once"},
    {"whole", (PyCFunction)Writer_whole, METH_O, "whole(data): head() + body(data) + end() in one call"},
    {"body", (PyCFunction)Writer_body, METH_O, "body(data): data framed for the wire"},
    {"end", (PyCFunction)(void (*)(void))Writer_end, METH_FASTCALL,
     "end(trailers=()): the end of the body (the last chunk, with trailers)"},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Writer_slots[] = {
    {Py_tp_doc, "Frames one response to one request (`_writer.ResponseWriter`, in C)."},
    {Py_tp_new, Writer_new},
    {Py_tp_dealloc, Writer_dealloc},
    {Py_tp_methods, Writer_methods},
    {Py_tp_members, Writer_members},
    {Py_tp_getset, Writer_getset},
    {0, NULL},
};

/* Not garbage-collected: a writer holds strs, tuples of ints, bytes and the worker's caches (dicts of
   those), never anything that could lead back to it. */
static PyType_Spec Writer_spec = {
    .name = "monoceros.http._speedups.ResponseWriter",
    .basicsize = sizeof(Writer),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Writer_slots,
};

/* -- the module's part ----------------------------------------------------------------------------- */

static PyObject *
bind(PyObject *module, PyObject *args)
{
    State *st = state_of(module);
    PyObject *error, *parse_status, *fields, *server_line, *without_length, *trailer_block, *caches_type;
    Py_ssize_t status_size, lists_size;
    if (!PyArg_ParseTuple(args, "OOOOOOOnn:bind", &error, &parse_status, &fields, &server_line, &without_length,
                          &trailer_block, &caches_type, &status_size, &lists_size)) {
        return NULL;
    }
    Py_XSETREF(st->error, Py_NewRef(error));
    Py_XSETREF(st->parse_status, Py_NewRef(parse_status));
    Py_XSETREF(st->fields, Py_NewRef(fields));
    Py_XSETREF(st->server_line, Py_NewRef(server_line));
    Py_XSETREF(st->without_length, Py_NewRef(without_length));
    Py_XSETREF(st->trailer_block, Py_NewRef(trailer_block));
    Py_XSETREF(st->caches_type, Py_NewRef(caches_type));
    st->status_size = status_size;
    st->lists_size = lists_size;
    Py_RETURN_NONE;
}

static PyMethodDef writer_functions[] = {
    {"bind", bind, METH_VARARGS,
     "bind(LocalProtocolError, parse_status, fields, server_line, without_length, trailer_block, Caches, "
     "STATUS_SIZE, HEADER_LISTS_SIZE): what the writer defers to (`_native.py` calls it once)"},
    {NULL, NULL, 0, NULL},
};

int
writer_exec(PyObject *module)
{
    State *st = state_of(module);
    if ((st->status_lines = PyUnicode_InternFromString("status_lines")) == NULL ||
        (st->header_lists = PyUnicode_InternFromString("header_lists")) == NULL ||
        (st->server_lines = PyUnicode_InternFromString("server_lines")) == NULL) {
        return -1;
    }
    if (PyModule_AddFunctions(module, writer_functions) < 0) {
        return -1;
    }
    PyObject *type = PyType_FromModuleAndSpec(module, &Writer_spec, NULL);
    if (type == NULL) {
        return -1;
    }
    int failed = PyModule_AddObjectRef(module, "ResponseWriter", type);
    Py_DECREF(type);
    return failed;
}

int
writer_traverse(PyObject *module, visitproc visit, void *arg)
{
    State *st = state_of(module);
    Py_VISIT(st->error);
    Py_VISIT(st->parse_status);
    Py_VISIT(st->fields);
    Py_VISIT(st->server_line);
    Py_VISIT(st->without_length);
    Py_VISIT(st->trailer_block);
    Py_VISIT(st->caches_type);
    return 0;
}

int
writer_clear(PyObject *module)
{
    State *st = state_of(module);
    Py_CLEAR(st->error);
    Py_CLEAR(st->parse_status);
    Py_CLEAR(st->fields);
    Py_CLEAR(st->server_line);
    Py_CLEAR(st->without_length);
    Py_CLEAR(st->trailer_block);
    Py_CLEAR(st->caches_type);
    Py_CLEAR(st->status_lines);
    Py_CLEAR(st->header_lists);
    Py_CLEAR(st->server_lines);
    Py_CLEAR(st->date_line);
    return 0;
}

void
writer_free(void *module)
{
    writer_clear((PyObject *)module);
}
