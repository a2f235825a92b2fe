// membw: AVX-512 read bandwidth, sum of 512-bit loads over a buffer; 15 reps, median. usage: membw MIB THREADS
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now_s(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return (x>y)-(x<y);}
int main(int argc,char**argv){
  size_t mib=atol(argv[1]); int nth=atoi(argv[2]); size_t bytes=mib<<20; size_t nv=bytes/64;
  __m512 *buf=aligned_alloc(64,bytes); memset(buf,1,bytes);
  double ts[15]; volatile float sink=0;
  for(int r=-2;r<15;r++){
    double t0=now_s(); float tot=0;
    #pragma omp parallel num_threads(nth) reduction(+:tot)
    { __m512 a0=_mm512_setzero_ps(),a1=a0,a2=a0,a3=a0;
      #pragma omp for schedule(static)
      for(size_t i=0;i<nv;i+=4){a0=_mm512_add_ps(a0,buf[i]);a1=_mm512_add_ps(a1,buf[i+1]);a2=_mm512_add_ps(a2,buf[i+2]);a3=_mm512_add_ps(a3,buf[i+3]);}
      tot+=_mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0,a1),_mm512_add_ps(a2,a3))); }
    double dt=now_s()-t0; sink+=tot; if(r>=0) ts[r]=dt;
  }
  qsort(ts,15,sizeof(double),cmp);
  printf("membw buf=%zuMiB t=%d median=%.1f GB/s (min-max %.1f-%.1f)\n",mib,nth,bytes/ts[7]*1e-9,bytes/ts[14]*1e-9,bytes/ts[0]*1e-9);
  return 0;}
