// BPE
