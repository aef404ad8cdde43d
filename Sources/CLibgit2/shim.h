#ifndef SHIPGATE_CLIBGIT2_SHIM_H
#define SHIPGATE_CLIBGIT2_SHIM_H
#include <git2.h>
#endif
