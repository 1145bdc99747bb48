/* A PKCS#11 module that plays a PIN pad in front of SoftHSM2, for tests only.
 *
 * Every function is SoftHSM2's, except: C_GetTokenInfo reports
 * CKF_PROTECTED_AUTHENTICATION_PATH, and C_Login, C_InitToken, C_InitPIN and C_SetPIN
 * called with a NULL PIN get the PIN in the file PINPAD_PIN_FILE (the pad's keys).
 * Each such call is appended to PINPAD_LOG as "NAME null" or "NAME pin": a PIN that came
 * from the host is recorded, so a test can prove none did. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST real_list, proxy_list;
static CK_FUNCTION_LIST_PTR real;
static char pad_pin[256];

static void note(const char *name, CK_UTF8CHAR_PTR pin) {
    const char *path = getenv("PINPAD_LOG");
    if (path == NULL) return;
    FILE *f = fopen(path, "a");
    if (f == NULL) return;
    fprintf(f, "%s %s\n", name, pin == NULL ? "null" : "pin");
    fclose(f);
}

static CK_ULONG pad(CK_UTF8CHAR_PTR *pin) {
    const char *path = getenv("PINPAD_PIN_FILE");
    FILE *f = path ? fopen(path, "r") : NULL;
    size_t n = 0;
    if (f != NULL) {
        n = fread(pad_pin, 1, sizeof pad_pin - 1, f);
        fclose(f);
    }
    while (n > 0 && (pad_pin[n - 1] == '\n' || pad_pin[n - 1] == '\r')) n--;
    pad_pin[n] = 0;
    *pin = (CK_UTF8CHAR_PTR)pad_pin;
    return (CK_ULONG)n;
}

static CK_RV load(void) {
    if (real != NULL) return CKR_OK;
    const char *lib = getenv("PINPAD_REAL_MODULE");
    void *h = dlopen(lib ? lib : "/usr/lib/softhsm/libsofthsm2.so", RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) return CKR_GENERAL_ERROR;
    CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList");
    CK_FUNCTION_LIST_PTR l;
    if (get == NULL || get(&l) != CKR_OK) return CKR_GENERAL_ERROR;
    real_list = *l;
    real = &real_list;
    return CKR_OK;
}

CK_RV C_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info) {
    if (load() != CKR_OK) return CKR_GENERAL_ERROR;
    CK_RV rv = real->C_GetTokenInfo(slot, info);
    if (rv == CKR_OK) info->flags |= CKF_PROTECTED_AUTHENTICATION_PATH;
    return rv;
}

CK_RV C_Login(CK_SESSION_HANDLE s, CK_USER_TYPE who, CK_UTF8CHAR_PTR pin, CK_ULONG len) {
    note("C_Login", pin);
    if (pin == NULL) len = pad(&pin);
    return real->C_Login(s, who, pin, len);
}

CK_RV C_InitToken(CK_SLOT_ID slot, CK_UTF8CHAR_PTR pin, CK_ULONG len, CK_UTF8CHAR_PTR label) {
    if (load() != CKR_OK) return CKR_GENERAL_ERROR;
    note("C_InitToken", pin);
    if (pin == NULL) len = pad(&pin);
    return real->C_InitToken(slot, pin, len, label);
}

CK_RV C_InitPIN(CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR pin, CK_ULONG len) {
    note("C_InitPIN", pin);
    if (pin == NULL) len = pad(&pin);
    return real->C_InitPIN(s, pin, len);
}

CK_RV C_SetPIN(CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR old, CK_ULONG old_len,
               CK_UTF8CHAR_PTR new_pin, CK_ULONG new_len) {
    note("C_SetPIN", old);
    note("C_SetPIN", new_pin);
    char keep[256];
    if (old == NULL) {
        old_len = pad(&old);
        memcpy(keep, pad_pin, sizeof keep);
        old = (CK_UTF8CHAR_PTR)keep;
    }
    if (new_pin == NULL) new_len = pad(&new_pin);
    return real->C_SetPIN(s, old, old_len, new_pin, new_len);
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out) {
    if (load() != CKR_OK) return CKR_GENERAL_ERROR;
    proxy_list = real_list;
    proxy_list.C_GetTokenInfo = C_GetTokenInfo;
    proxy_list.C_Login = C_Login;
    proxy_list.C_InitToken = C_InitToken;
    proxy_list.C_InitPIN = C_InitPIN;
    proxy_list.C_SetPIN = C_SetPIN;
    proxy_list.C_GetFunctionList = C_GetFunctionList;
    *out = &proxy_list;
    return CKR_OK;
}
