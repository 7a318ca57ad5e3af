/* libFuzzer target for the native head scanner (`src/monoceros/http/_speedups.c`), built with
   AddressSanitizer and UndefinedBehaviorSanitizer by `make fuzz-native`.

   The scanner's source is compiled into this file, so its functions see the fuzzer's input in place: a
   memoryview over exactly the bytes libFuzzer hands over, and any read past them is an ASan report. Both
   entry points run on every input (scan, and read with Host values known so that it builds Request
   events); the results are checked for shape and released, a leak is for the memory test of
   tests/http/test_native.py to find (LeakSanitizer cannot tell the interpreter's own lasting objects from one). */

#include "../../src/monoceros/http/_speedups.c"
#include "../../src/monoceros/http/_speedups_writer.c" /* (the module's other half: its exec and state) */

static PyObject *scanner;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    init_classes(); /* this file's copy of the tables (the module's own are set by its import) */
    Py_Initialize();
    PyObject *speedups = PyImport_ImportModule("monoceros.http._speedups");
    PyObject *events = PyImport_ImportModule("monoceros.http._events");
    if (speedups == NULL || events == NULL) {
        PyErr_Print();
        abort();
    }
    PyObject *type = PyObject_GetAttrString(speedups, "HeadScanner");
    PyObject *request = PyObject_GetAttrString(events, "Request");
    PyObject *hosts = Py_BuildValue("(sss)", "h", "example.com", "127.0.0.1:8080");
    PyObject *set = hosts == NULL ? NULL : PySet_New(hosts);
    /* small limits, so that inputs reach them */
    scanner = PyObject_CallFunction(type, "nnniOO(ii)(ii)", (Py_ssize_t)200, (Py_ssize_t)8, (Py_ssize_t)400, 1,
                                    set, request, 1, 0, 1, 1);
    if (scanner == NULL) {
        PyErr_Print();
        abort();
    }
    Py_XDECREF(hosts);
    Py_XDECREF(set);
    Py_DECREF(request);
    Py_DECREF(type);
    Py_DECREF(events);
    Py_DECREF(speedups);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    PyObject *view = PyMemoryView_FromMemory((char *)data, (Py_ssize_t)size, PyBUF_READ);
    PyObject *n = PyLong_FromSsize_t((Py_ssize_t)size);
    if (view == NULL || n == NULL) {
        abort();
    }
    for (int judging = 0; judging < 2; judging++) {
        PyObject *args[2] = {view, n};
        PyObject *result = scan_or_read((HeadScanner *)scanner, args, 2, judging);
        if (result == NULL) {
            PyErr_Print();
            abort(); /* a scan raises only for a bad argument, and these are good */
        }
        if (result != Py_None && (!PyTuple_Check(result) || (PyTuple_GET_SIZE(result) != 6 &&
                                                              PyTuple_GET_SIZE(result) != 12))) {
            abort();
        }
        Py_DECREF(result);
    }
    PyObject *limit = PyLong_FromLong(400);
    PyObject *chunk_args[2] = {view, limit};
    PyObject *taken = limit == NULL ? NULL : take_chunks(NULL, chunk_args, 2);
    if (taken == NULL || !PyTuple_Check(taken) || PyLong_AsSsize_t(PyTuple_GET_ITEM(taken, 0)) > (Py_ssize_t)size ||
        PyBytes_GET_SIZE(PyTuple_GET_ITEM(taken, 1)) > (Py_ssize_t)size) {
        abort();
    }
    Py_DECREF(taken);
    Py_DECREF(limit);
    Py_DECREF(n);
    Py_DECREF(view);
    return 0;
}
