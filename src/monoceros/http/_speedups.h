/* What the two halves of `_speedups` share: the character classes (filled by `_speedups.c` when the module
   is first imported) and the entry points of the response writer (`_speedups_writer.c`). */

#ifndef MONOCEROS_SPEEDUPS_H
#define MONOCEROS_SPEEDUPS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* Character classes (RFC 9110 §5.6.2 tchar; Gunicorn's conventional method; the origin-form characters
   of `_abnf._PATH_CHAR` and `_QUERY_CHAR`; field-content and field-vchar of RFC 9110 §5.5). */
enum {
    TCHAR = 1,
    METHOD = 2,
    PATH = 4,
    QUERY = 8,
    CONTENT = 16, /* HTAB, SP, VCHAR, obs-text */
};

extern unsigned char speedups_classes[256];

/* The module state is the writer's (the parser keeps its state in its scanner objects). */
extern const Py_ssize_t writer_state_size;
int writer_exec(PyObject *module);
int writer_traverse(PyObject *module, visitproc visit, void *arg);
int writer_clear(PyObject *module);
void writer_free(void *module);

#endif
