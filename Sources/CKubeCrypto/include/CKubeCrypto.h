#ifndef CKUBECRYPTO_H
#define CKUBECRYPTO_H

/// Small certificate helpers over the system OpenSSL libcrypto (EVP + X509), used by the
/// built-in API server to create its CA, serving certificate and admin client certificate;
/// and the primitives of restic's repository encryption (below).
/// Every certificate key is ECDSA P-256; every certificate is signed with SHA-256.
/// Functions return 0 on success and a negative number on failure; on success the PEM outputs
/// are heap strings the caller releases with ckc_free.

/// A self-signed CA certificate and its private key (PKCS#8 PEM).
int ckc_generate_ca(const char *common_name, int valid_days, char **cert_pem, char **key_pem);

/// A certificate signed by the CA, with a fresh key.
/// `is_server` != 0: extendedKeyUsage serverAuth and the given SANs (DNS names and IP
/// addresses, IPv4 or IPv6 text); otherwise clientAuth. `organization` may be NULL.
int ckc_generate_signed(const char *ca_cert_pem, const char *ca_key_pem,
                        const char *common_name, const char *organization,
                        const char *const *dns_names, int dns_count,
                        const char *const *ip_addresses, int ip_count,
                        int is_server, int valid_days,
                        char **cert_pem, char **key_pem);

/// 1 when `cert_pem` was signed by `ca_cert_pem` and is within its validity period, else 0.
int ckc_verify_signed_by(const char *cert_pem, const char *ca_cert_pem);

// restic's repository cryptography (restic's design document, "Keys, Encryption and MAC"),
// for the operations kubesnap does on a repository without the restic CLI. Each returns 0 on
// success and a negative number on failure.

/// AES-256 in counter mode (encryption and decryption are the same), `iv` 16 bytes.
int ckc_aes256_ctr(const unsigned char *key32, const unsigned char *iv16,
                   const unsigned char *input, unsigned long length, unsigned char *output);

/// restic's Poly1305-AES: the Poly1305 one-time key is `r16` followed by AES-128(`k16`, `nonce16`).
int ckc_poly1305_aes(const unsigned char *k16, const unsigned char *r16, const unsigned char *nonce16,
                     const unsigned char *message, unsigned long length, unsigned char *tag16);

/// SHA-256 of `length` bytes into 32 bytes.
int ckc_sha256(const unsigned char *input, unsigned long length, unsigned char *digest32);

/// `length` cryptographically random bytes.
int ckc_random(unsigned char *output, unsigned long length);

/// Releases a string returned by this library.
void ckc_free(char *pointer);

#endif
