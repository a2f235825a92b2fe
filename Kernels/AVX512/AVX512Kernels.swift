public enum AVX512Kernels {}
