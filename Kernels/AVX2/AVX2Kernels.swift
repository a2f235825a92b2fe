public enum AVX2Kernels {}
