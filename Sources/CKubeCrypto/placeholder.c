int ckubecrypto_placeholder(void) { return 0; }
