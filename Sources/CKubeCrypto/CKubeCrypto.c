#include "CKubeCrypto.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

static EVP_PKEY *new_p256_key(void) {
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
    if (ctx == NULL) return NULL;
    if (EVP_PKEY_keygen_init(ctx) <= 0 ||
        EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx, NID_X9_62_prime256v1) <= 0 ||
        EVP_PKEY_keygen(ctx, &key) <= 0) {
        key = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return key;
}

static char *bio_to_string(BIO *bio) {
    char *data = NULL;
    long length = BIO_get_mem_data(bio, &data);
    if (length <= 0) return NULL;
    char *out = malloc((size_t)length + 1);
    if (out == NULL) return NULL;
    memcpy(out, data, (size_t)length);
    out[length] = 0;
    return out;
}

static char *cert_to_pem(X509 *cert) {
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL) return NULL;
    char *out = NULL;
    if (PEM_write_bio_X509(bio, cert) == 1) out = bio_to_string(bio);
    BIO_free(bio);
    return out;
}

static char *key_to_pem(EVP_PKEY *key) {
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL) return NULL;
    char *out = NULL;
    if (PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1) out = bio_to_string(bio);
    BIO_free(bio);
    return out;
}

static X509 *pem_to_cert(const char *pem) {
    BIO *bio = BIO_new_mem_buf(pem, -1);
    if (bio == NULL) return NULL;
    X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    return cert;
}

static EVP_PKEY *pem_to_key(const char *pem) {
    BIO *bio = BIO_new_mem_buf(pem, -1);
    if (bio == NULL) return NULL;
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    return key;
}

static int add_extension(X509 *cert, X509 *issuer, int nid, const char *value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL) return -1;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1 ? 0 : -1;
}

/// A certificate skeleton: random serial, validity from one hour ago, subject CN/O.
static X509 *new_certificate(EVP_PKEY *key, const char *common_name, const char *organization, int valid_days) {
    X509 *cert = X509_new();
    if (cert == NULL) return NULL;
    X509_set_version(cert, 2);
    BIGNUM *serial = BN_new();
    if (serial == NULL || BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
        BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert)) == NULL) {
        BN_free(serial);
        X509_free(cert);
        return NULL;
    }
    BN_free(serial);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), (long)valid_days * 24 * 3600);
    X509_set_pubkey(cert, key);
    X509_NAME *name = X509_get_subject_name(cert);
    if (organization != NULL && organization[0] != 0) {
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)organization, -1, -1, 0);
    }
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)common_name, -1, -1, 0);
    return cert;
}

/* Signs `cert` with `signer` and writes it and `key` as PEM (malloc'd) to the out pointers;
 * 0 on success, -1 with both outs NULL otherwise. */
static int sign_and_export(X509 *cert, EVP_PKEY *signer, EVP_PKEY *key, char **cert_pem, char **key_pem) {
    if (X509_sign(cert, signer, EVP_sha256()) <= 0) return -1;
    *cert_pem = cert_to_pem(cert);
    *key_pem = key_to_pem(key);
    if (*cert_pem == NULL || *key_pem == NULL) {
        free(*cert_pem);
        free(*key_pem);
        *cert_pem = NULL;
        *key_pem = NULL;
        return -1;
    }
    return 0;
}

int ckc_generate_ca(const char *common_name, int valid_days, char **cert_pem, char **key_pem) {
    if (common_name == NULL || cert_pem == NULL || key_pem == NULL) return -1;
    int result = -1;
    EVP_PKEY *key = new_p256_key();
    X509 *cert = key ? new_certificate(key, common_name, NULL, valid_days) : NULL;
    if (cert == NULL) goto done;
    X509_set_issuer_name(cert, X509_get_subject_name(cert));
    if (add_extension(cert, cert, NID_basic_constraints, "critical,CA:TRUE") != 0 ||
        add_extension(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature") != 0 ||
        add_extension(cert, cert, NID_subject_key_identifier, "hash") != 0) goto done;
    result = sign_and_export(cert, key, key, cert_pem, key_pem);
done:
    X509_free(cert);
    EVP_PKEY_free(key);
    return result;
}

int ckc_generate_signed(const char *ca_cert_pem, const char *ca_key_pem,
                        const char *common_name, const char *organization,
                        const char *const *dns_names, int dns_count,
                        const char *const *ip_addresses, int ip_count,
                        int is_server, int valid_days,
                        char **cert_pem, char **key_pem) {
    if (ca_cert_pem == NULL || ca_key_pem == NULL || common_name == NULL || cert_pem == NULL || key_pem == NULL)
        return -1;
    int result = -1;
    X509 *ca = pem_to_cert(ca_cert_pem);
    EVP_PKEY *ca_key = pem_to_key(ca_key_pem);
    EVP_PKEY *key = new_p256_key();
    X509 *cert = NULL;
    GENERAL_NAMES *names = NULL;
    if (ca == NULL || ca_key == NULL || key == NULL) goto done;
    cert = new_certificate(key, common_name, organization, valid_days);
    if (cert == NULL) goto done;
    X509_set_issuer_name(cert, X509_get_subject_name(ca));
    if (add_extension(cert, ca, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
        add_extension(cert, ca, NID_key_usage, "critical,digitalSignature,keyEncipherment") != 0 ||
        add_extension(cert, ca, NID_ext_key_usage, is_server ? "serverAuth" : "clientAuth") != 0 ||
        add_extension(cert, ca, NID_authority_key_identifier, "keyid:always") != 0) goto done;
    if (dns_count + ip_count > 0) {
        names = sk_GENERAL_NAME_new_null();
        if (names == NULL) goto done;
        for (int i = 0; i < dns_count; i++) {
            GENERAL_NAME *gn = GENERAL_NAME_new();
            ASN1_IA5STRING *text = ASN1_IA5STRING_new();
            if (gn == NULL || text == NULL || ASN1_STRING_set(text, dns_names[i], -1) != 1) {
                GENERAL_NAME_free(gn);
                ASN1_IA5STRING_free(text);
                goto done;
            }
            GENERAL_NAME_set0_value(gn, GEN_DNS, text);
            sk_GENERAL_NAME_push(names, gn);
        }
        for (int i = 0; i < ip_count; i++) {
            unsigned char raw[16];
            int length = 0;
            if (inet_pton(AF_INET, ip_addresses[i], raw) == 1) length = 4;
            else if (inet_pton(AF_INET6, ip_addresses[i], raw) == 1) length = 16;
            else goto done;
            GENERAL_NAME *gn = GENERAL_NAME_new();
            ASN1_OCTET_STRING *octets = ASN1_OCTET_STRING_new();
            if (gn == NULL || octets == NULL || ASN1_OCTET_STRING_set(octets, raw, length) != 1) {
                GENERAL_NAME_free(gn);
                ASN1_OCTET_STRING_free(octets);
                goto done;
            }
            GENERAL_NAME_set0_value(gn, GEN_IPADD, octets);
            sk_GENERAL_NAME_push(names, gn);
        }
        if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names, 0, 0) != 1) goto done;
    }
    result = sign_and_export(cert, ca_key, key, cert_pem, key_pem);
done:
    GENERAL_NAMES_free(names);
    X509_free(cert);
    X509_free(ca);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
    return result;
}

int ckc_verify_signed_by(const char *cert_pem, const char *ca_cert_pem) {
    if (cert_pem == NULL || ca_cert_pem == NULL) return 0;
    X509 *cert = pem_to_cert(cert_pem);
    X509 *ca = pem_to_cert(ca_cert_pem);
    int ok = 0;
    if (cert != NULL && ca != NULL) {
        X509_STORE *store = X509_STORE_new();
        X509_STORE_CTX *ctx = X509_STORE_CTX_new();
        if (store != NULL && ctx != NULL && X509_STORE_add_cert(store, ca) == 1 &&
            X509_STORE_CTX_init(ctx, store, cert, NULL) == 1) {
            ok = X509_verify_cert(ctx) == 1 ? 1 : 0;
        }
        X509_STORE_CTX_free(ctx);
        X509_STORE_free(store);
    }
    X509_free(cert);
    X509_free(ca);
    return ok;
}

void ckc_free(char *pointer) { free(pointer); }

// MARK: restic's repository cryptography

int ckc_aes256_ctr(const unsigned char *key32, const unsigned char *iv16,
                   const unsigned char *input, unsigned long length, unsigned char *output) {
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) return -1;
    int ok = EVP_EncryptInit_ex(ctx, EVP_aes_256_ctr(), NULL, key32, iv16) == 1;
    int written = 0, final_written = 0;
    if (ok && length > 0) ok = EVP_EncryptUpdate(ctx, output, &written, input, (int)length) == 1;
    if (ok) ok = EVP_EncryptFinal_ex(ctx, output + written, &final_written) == 1;
    EVP_CIPHER_CTX_free(ctx);
    return ok && (unsigned long)(written + final_written) == length ? 0 : -1;
}

int ckc_poly1305_aes(const unsigned char *k16, const unsigned char *r16, const unsigned char *nonce16,
                     const unsigned char *message, unsigned long length, unsigned char *tag16) {
    unsigned char key[32];
    memcpy(key, r16, 16);
    EVP_CIPHER_CTX *aes = EVP_CIPHER_CTX_new();
    if (aes == NULL) return -1;
    int written = 0;
    int ok = EVP_EncryptInit_ex(aes, EVP_aes_128_ecb(), NULL, k16, NULL) == 1
             && EVP_CIPHER_CTX_set_padding(aes, 0) == 1
             && EVP_EncryptUpdate(aes, key + 16, &written, nonce16, 16) == 1 && written == 16;
    EVP_CIPHER_CTX_free(aes);
    if (!ok) return -1;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "POLY1305", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    size_t tag_len = 0;
    ok = ctx != NULL && EVP_MAC_init(ctx, key, sizeof key, NULL) == 1
         && EVP_MAC_update(ctx, message, length) == 1
         && EVP_MAC_final(ctx, tag16, &tag_len, 16) == 1 && tag_len == 16;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    OPENSSL_cleanse(key, sizeof key);
    return ok ? 0 : -1;
}

int ckc_sha256(const unsigned char *input, unsigned long length, unsigned char *digest32) {
    unsigned int size = 0;
    return EVP_Digest(input, length, digest32, &size, EVP_sha256(), NULL) == 1 && size == 32 ? 0 : -1;
}

int ckc_random(unsigned char *output, unsigned long length) {
    return RAND_bytes(output, (int)length) == 1 ? 0 : -1;
}
