#ifndef PYNOMALY_CYAML_SHIM_H
#define PYNOMALY_CYAML_SHIM_H
#include <yaml.h>
#endif
