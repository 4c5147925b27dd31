#ifndef CKUBECRYPTO_H
#define CKUBECRYPTO_H
int ckubecrypto_placeholder(void);
#endif
