// librdkafka's C API, for KafkaClient/RDKafka only. Built against the system headers
// (librdkafka-dev); the library loaded at run time must be >= 2.2 (KafkaLibrary checks).
// No feature macros here (_GNU_SOURCE would change glibc's types against the SwiftGlibc module).
#ifndef SLUICE_CRDKAFKA_SHIM_H
#define SLUICE_CRDKAFKA_SHIM_H
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#endif
