/* A library preloaded into `atom` by the network tests (network.rs,
 * an_https_conversation_leaves_openssl_no_exit_cleanup): it reports on stderr
 * whether OpenSSL registered its clean-up to run at process exit.
 *
 * That clean-up frees OpenSSL's global state while a thread gix's curl client
 * leaves running may still be freeing its own, which crashes the process after
 * its work is done (gitoxide#1013). The crash depends on timing; whether the
 * clean-up is registered does not.
 *
 * OpenSSL registers it with `atexit`, which libc implements by calling
 * `__cxa_atexit`; this library puts itself in front of that function. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>
#include <unistd.h>

typedef int (*cxa_atexit_fn)(void (*)(void *), void *, void *);

static void say(const char *text) {
    ssize_t ignored = write(STDERR_FILENO, text, strlen(text));
    (void)ignored;
}

__attribute__((constructor)) static void announce(void) {
    say("atexit-watch: loaded\n");
}

int __cxa_atexit(void (*function)(void *), void *argument, void *dso) {
    cxa_atexit_fn next = (cxa_atexit_fn)dlsym(RTLD_NEXT, "__cxa_atexit");
    void *cleanup = dlsym(RTLD_DEFAULT, "OPENSSL_cleanup");
    if (cleanup != NULL && (void *)function == cleanup) {
        say("atexit-watch: OPENSSL_cleanup registered\n");
    }
    return next(function, argument, dso);
}
