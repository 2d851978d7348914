// librdkafka's C API, for KafkaClient/RDKafka only. Built against the system headers
// (librdkafka-dev); the library loaded at run time must be >= 2.2 (KafkaLibrary checks).
#ifndef SLUICE_CRDKAFKA_SHIM_H
#define SLUICE_CRDKAFKA_SHIM_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/// The path of the librdkafka the dynamic loader chose, or NULL.
static inline const char *sluice_rdkafka_library_path(void) {
    Dl_info info;
    if (dladdr((const void *)&rd_kafka_version, &info) == 0) return 0;
    return info.dli_fname;
}
#endif
