#ifndef KUBESNAP_CCURL_SHIM_H
#define KUBESNAP_CCURL_SHIM_H
// Typed wrappers around libcurl's variadic functions (curl_easy_setopt, curl_easy_getinfo,
// curl_multi_setopt), which Swift cannot call directly. Every function is `static inline`.
#include <curl/curl.h>
#include <string.h>

typedef size_t (*kubesnap_curl_data_callback)(char *buffer, size_t size, size_t count, void *userdata);

static inline CURLcode kubesnap_curl_set_long(CURL *easy, CURLoption option, long value) {
    return curl_easy_setopt(easy, option, value);
}

/// Strings are copied by libcurl (for every option kubesnap uses), so the caller may free them.
static inline CURLcode kubesnap_curl_set_string(CURL *easy, CURLoption option, const char *value) {
    return curl_easy_setopt(easy, option, value);
}

static inline CURLcode kubesnap_curl_set_pointer(CURL *easy, CURLoption option, void *value) {
    return curl_easy_setopt(easy, option, value);
}

static inline CURLcode kubesnap_curl_set_slist(CURL *easy, CURLoption option, struct curl_slist *list) {
    return curl_easy_setopt(easy, option, list);
}

static inline CURLcode kubesnap_curl_set_callback(CURL *easy, CURLoption option, kubesnap_curl_data_callback callback) {
    return curl_easy_setopt(easy, option, callback);
}

/// A memory blob (certificate, key, CA bundle) that libcurl copies (CURL_BLOB_COPY): nothing
/// is written to disk and the caller's buffer may be released right after the call.
static inline CURLcode kubesnap_curl_set_blob(CURL *easy, CURLoption option, const void *data, size_t length) {
    struct curl_blob blob;
    blob.data = (void *)data;
    blob.len = length;
    blob.flags = CURL_BLOB_COPY;
    return curl_easy_setopt(easy, option, &blob);
}

/// Request body copied by libcurl (CURLOPT_POSTFIELDSIZE_LARGE then CURLOPT_COPYPOSTFIELDS).
static inline CURLcode kubesnap_curl_set_body(CURL *easy, const void *data, size_t length) {
    CURLcode code = curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)length);
    if (code != CURLE_OK) return code;
    return curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, length == 0 ? "" : (const char *)data);
}

static inline CURLcode kubesnap_curl_get_long(CURL *easy, CURLINFO info, long *value) {
    return curl_easy_getinfo(easy, info, value);
}

static inline CURLcode kubesnap_curl_get_pointer(CURL *easy, CURLINFO info, void **value) {
    return curl_easy_getinfo(easy, info, value);
}

static inline CURLMcode kubesnap_curl_multi_set_long(CURLM *multi, CURLMoption option, long value) {
    return curl_multi_setopt(multi, option, value);
}

/// What a write callback returns to pause the transfer (CURL_WRITEFUNC_PAUSE, a macro).
static inline size_t kubesnap_curl_write_pause_value(void) {
    return CURL_WRITEFUNC_PAUSE;
}

/// Resumes a transfer paused by its write callback (curl_easy_pause with CURLPAUSE_CONT).
static inline CURLcode kubesnap_curl_resume(CURL *easy) {
    return curl_easy_pause(easy, CURLPAUSE_CONT);
}

/// The result code of a finished transfer's CURLMSG_DONE message.
static inline CURLcode kubesnap_curl_message_result(CURLMsg *message) {
    return message->data.result;
}

#endif
