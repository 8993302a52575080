// N-API addon over the system OpenBLAS (BLAS via cblas.h, LAPACK via its Fortran symbols, which
// Debian's libopenblas.so carries too). Every call is synchronous and works directly on the
// Float64Array storage passed in: the TypeScript side allocates the outputs, and cholesky and
// symmetricEigen copy their input into them or into scratch. Matrices are row-major on the JavaScript
// side; the layout notes on each function say how that maps onto column-major LAPACK. Besides plain
// BLAS/LAPACK calls there is our own eigendecomposition driver (LAPACK pieces, for speed at large n)
// and one kernel, the exact gram (see namespace exact), because libs/kernels needs gram's entries
// bit-for-bit reproducible.
// Threads: OpenBLAS's pool (default one per core; setThreads changes it), and the exact gram uses the
// same count. No JavaScript handle is touched off the calling thread.
//
// Built with C++ exceptions off (node-addon-api's NAPI_DISABLE_CPP_EXCEPTIONS): errors are thrown
// as JavaScript exceptions and the function returns immediately.
#include <napi.h>

#include <cblas.h>

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

// LAPACK, Fortran calling convention: everything by pointer, and gfortran appends one hidden
// size_t length per CHARACTER argument. OpenBLAS's own C implementations (dpotrf_) ignore the
// extra arguments; its gfortran-compiled reference routines (dsytrd_, dstedc_, ...) expect them.
extern "C" {
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info, size_t uplo_len);
void spotrf_(const char* uplo, const int* n, float* a, const int* lda, int* info, size_t uplo_len);
void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w, double* work,
             const int* lwork, int* iwork, const int* liwork, int* info, size_t jobz_len, size_t uplo_len);
void ssyevd_(const char* jobz, const char* uplo, const int* n, float* a, const int* lda, float* w, float* work,
             const int* lwork, int* iwork, const int* liwork, int* info, size_t jobz_len, size_t uplo_len);
void dsytrd_(const char* uplo, const int* n, double* a, const int* lda, double* d, double* e, double* tau, double* work,
             const int* lwork, int* info, size_t uplo_len);
void dstedc_(const char* compz, const int* n, double* d, double* e, double* z, const int* ldz, double* work,
             const int* lwork, int* iwork, const int* liwork, int* info, size_t compz_len);
void dlarft_(const char* direct, const char* storev, const int* n, const int* k, double* v, const int* ldv,
             const double* tau, double* t, const int* ldt, size_t direct_len, size_t storev_len);
void dlarfb_(const char* side, const char* trans, const char* direct, const char* storev, const int* m, const int* n,
             const int* k, const double* v, const int* ldv, const double* t, const int* ldt, double* c, const int* ldc,
             double* work, const int* ldwork, size_t side_len, size_t trans_len, size_t direct_len, size_t storev_len);
}

namespace {

bool ThrowTypeError(Napi::Env env, const std::string& message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return false;
}

bool ThrowError(Napi::Env env, const std::string& message) {
  Napi::Error::New(env, message).ThrowAsJavaScriptException();
  return false;
}

// A non-negative integer dimension that fits LAPACK's 32-bit int.
bool GetDim(const Napi::CallbackInfo& info, size_t index, const char* name, int* out) {
  if (index >= info.Length() || !info[index].IsNumber()) {
    return ThrowTypeError(info.Env(), std::string("linalg native: ") + name + " must be a number");
  }
  const double value = info[index].As<Napi::Number>().DoubleValue();
  if (!(value >= 0) || value > INT_MAX || std::floor(value) != value) {
    return ThrowTypeError(info.Env(), std::string("linalg native: ") + name + " must be a non-negative int32");
  }
  *out = static_cast<int>(value);
  return true;
}

// Per element type: the JS array that holds it and BLAS's GEMM for it.
template <typename T>
struct Real;
template <>
struct Real<double> {
  static constexpr napi_typedarray_type kArray = napi_float64_array;
  static constexpr const char* kArrayName = "Float64Array";
  static constexpr const char* kGemmName = "dgemm";
  static constexpr auto kGemm = cblas_dgemm;
  static constexpr const char* kPotrfName = "dpotrf";
  static constexpr auto kPotrf = dpotrf_;
  static constexpr auto kTrsm = cblas_dtrsm;
  static constexpr const char* kSyevdName = "dsyevd";
  static constexpr auto kSyevd = dsyevd_;
};
template <>
struct Real<float> {
  static constexpr napi_typedarray_type kArray = napi_float32_array;
  static constexpr const char* kArrayName = "Float32Array";
  static constexpr const char* kGemmName = "sgemm";
  static constexpr auto kGemm = cblas_sgemm;
  static constexpr const char* kPotrfName = "spotrf";
  static constexpr auto kPotrf = spotrf_;
  static constexpr auto kTrsm = cblas_strsm;
  static constexpr const char* kSyevdName = "ssyevd";
  static constexpr auto kSyevd = ssyevd_;
};

// The storage of a Float64Array (T = double) or Float32Array (T = float) argument holding at least
// `needed` elements.
template <typename T>
bool GetArray(const Napi::CallbackInfo& info, size_t index, const char* name, size_t needed, T** out) {
  if (index >= info.Length() || !info[index].IsTypedArray() || info[index].As<Napi::TypedArray>().TypedArrayType() != Real<T>::kArray) {
    return ThrowTypeError(info.Env(), std::string("linalg native: ") + name + " must be a " + Real<T>::kArrayName);
  }
  Napi::TypedArrayOf<T> array = info[index].As<Napi::TypedArrayOf<T>>();
  if (array.ElementLength() < needed) {
    return ThrowTypeError(info.Env(), std::string("linalg native: ") + name + " has " +
                                          std::to_string(array.ElementLength()) + " entries, needs " +
                                          std::to_string(needed));
  }
  *out = array.Data();  // Data() already includes the view's byteOffset.
  return true;
}

bool GetF64(const Napi::CallbackInfo& info, size_t index, const char* name, size_t needed, double** out) {
  return GetArray(info, index, name, needed, out);
}

bool GetBool(const Napi::CallbackInfo& info, size_t index, const char* name, bool* out) {
  if (index >= info.Length() || !info[index].IsBoolean()) {
    return ThrowTypeError(info.Env(), std::string("linalg native: ") + name + " must be a boolean");
  }
  *out = info[index].As<Napi::Boolean>().Value();
  return true;
}

size_t Elems(int rows, int cols) { return static_cast<size_t>(rows) * static_cast<size_t>(cols); }

// Copies the strict upper triangle of a row-major n×n matrix onto the lower one.
void MirrorUpperToLower(double* c, int n) {
  for (size_t i = 1; i < static_cast<size_t>(n); i++)
    for (size_t j = 0; j < i; j++) c[i * n + j] = c[j * n + i];
}

// dgemm / sgemm(a, aRows, aCols, transA, b, bRows, bCols, transB, c): c ← op(a)·op(b), all dense row-major
// (leading dimension = column count); c must hold op(a).rows × op(b).cols elements and alias neither
// input. sgemm serves tfjs tensors that live in the wasm heap (libs/compute passes views of it).
template <typename T>
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int aRows, aCols, bRows, bCols;
  bool transA, transB;
  T *a, *b, *c;
  if (!GetDim(info, 1, "aRows", &aRows) || !GetDim(info, 2, "aCols", &aCols) || !GetBool(info, 3, "transA", &transA) ||
      !GetDim(info, 5, "bRows", &bRows) || !GetDim(info, 6, "bCols", &bCols) || !GetBool(info, 7, "transB", &transB) ||
      !GetArray(info, 0, "a", Elems(aRows, aCols), &a) || !GetArray(info, 4, "b", Elems(bRows, bCols), &b)) {
    return env.Undefined();
  }
  const int m = transA ? aCols : aRows;
  const int k = transA ? aRows : aCols;
  const int kb = transB ? bCols : bRows;
  const int n = transB ? bRows : bCols;
  if (k != kb) {
    ThrowError(env, std::string("linalg native ") + Real<T>::kGemmName + ": inner dimensions " + std::to_string(k) + " and " + std::to_string(kb));
    return env.Undefined();
  }
  if (!GetArray(info, 8, "c", Elems(m, n), &c)) return env.Undefined();
  if (m == 0 || n == 0) return env.Undefined();
  if (k == 0) {
    std::memset(c, 0, Elems(m, n) * sizeof(T));
    return env.Undefined();
  }
  Real<T>::kGemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, m, n, k, T(1), a, aCols,
                 b, bCols, T(0), c, n);
  return env.Undefined();
}

// dsyrk(a, n, k, c): c ← a·aᵀ for row-major a (n×k); computes the upper triangle and mirrors it, so
// c is exactly symmetric.
Napi::Value Dsyrk(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int n, k;
  double *a, *c;
  if (!GetDim(info, 1, "n", &n) || !GetDim(info, 2, "k", &k) || !GetF64(info, 0, "a", Elems(n, k), &a) ||
      !GetF64(info, 3, "c", Elems(n, n), &c)) {
    return env.Undefined();
  }
  if (n == 0) return env.Undefined();
  if (k == 0) {
    std::memset(c, 0, Elems(n, n) * sizeof(double));
    return env.Undefined();
  }
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, k, 1.0, a, k, 0.0, c, n);
  MirrorUpperToLower(c, n);
  return env.Undefined();
}

// ---- Cholesky -----------------------------------------------------------------------------------
namespace cholesky {

template <typename T>
struct RowRange {
  const T* a;
  T* l;
  size_t n, begin, end;
};

template <typename T>
void* CopyLowerRows(void* arg) {
  const RowRange<T>& r = *static_cast<const RowRange<T>*>(arg);
  for (size_t i = r.begin; i < r.end; i++) std::memcpy(r.l + i * r.n, r.a + i * r.n, (i + 1) * sizeof(T));
  return nullptr;
}

// The lower triangle of a (row-major n×n) into l. l's pages are fresh, so the copy is mostly page
// faults (0.16 s at n = 8192 on one core, 8% of dpotrf's time); faults proceed in parallel, so the rows
// are split across threads into ranges holding equal numbers of entries.
template <typename T>
void CopyLowerTriangle(const T* a, T* l, size_t n, int threads) {
  threads = n < 1024 ? 1 : std::clamp(threads, 1, 64);  // below that, starting a thread costs more than it saves
  RowRange<T> ranges[64];
  for (int t = 0; t < threads; t++) {
    const auto row = [&](int k) { return k == threads ? n : static_cast<size_t>(n * std::sqrt(k / double(threads))); };
    ranges[t] = {a, l, n, row(t), row(t + 1)};
  }
  pthread_t ids[64];
  bool started[64] = {};
  for (int t = 1; t < threads; t++) started[t] = pthread_create(&ids[t], nullptr, CopyLowerRows<T>, &ranges[t]) == 0;
  CopyLowerRows<T>(&ranges[0]);
  for (int t = 1; t < threads; t++) {
    if (started[t]) pthread_join(ids[t], nullptr);
    else CopyLowerRows<T>(&ranges[t]);  // no thread to be had: same result, one core
  }
}

}  // namespace cholesky

// cholesky(a, l, n): l (row-major n×n, all zeros) becomes L with A = L·Lᵀ, reading the lower triangle of
// a. Row-major lower is column-major upper, so LAPACK runs with uplo = 'U' (A = UᵀU, U = Lᵀ). dpotrf
// leaves the other triangle alone, so l's upper triangle stays zero and its pages untouched: at n = 8192
// the copy takes ~0.12 s, where copying all of a and zeroing the upper triangle afterwards took ~0.3 s
// of ~2.3 s. (A recursive Cholesky over large dgemm calls, dpotrf only at the leaves, was slower than
// OpenBLAS's dpotrf here, timed interleaved: a median 2.15 s against 2.00 s at n = 8192.)
// Returns 0, or the 1-based index of the first pivot that is not positive (its value is then left on
// l's diagonal). OpenBLAS tests `pivot <= 0`, which NaN passes, so a non-positive or NaN diagonal entry
// after a "successful" factorization is reported the same way.
// choleskyF32 is the same with spotrf on Float32Arrays: every operation rounds to float32, so a kernel
// whose small eigenvalues fall under float32's ε fails here or loses its accuracy (KERNELS.md, "Float
// precision").
template <typename T>
Napi::Value Cholesky(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int n;
  T *a, *l;
  if (!GetDim(info, 2, "n", &n) || !GetArray(info, 0, "a", Elems(n, n), &a) || !GetArray(info, 1, "l", Elems(n, n), &l)) {
    return env.Undefined();
  }
  const size_t nn = static_cast<size_t>(n);
  cholesky::CopyLowerTriangle(a, l, nn, openblas_get_num_threads());
  int status = 0;
  if (n > 0) {
    Real<T>::kPotrf("U", &n, l, &n, &status, 1);
    if (status < 0) {
      ThrowError(env, std::string("linalg native: ") + Real<T>::kPotrfName + " rejected argument " + std::to_string(-status));
      return env.Undefined();
    }
  }
  for (size_t i = 0; status == 0 && i < nn; i++) {
    if (!(l[i * nn + i] > 0)) status = static_cast<int>(i) + 1;
  }
  return Napi::Number::New(env, status);
}

// dpotrs(l, n, b, m): in place, b (row-major n×m) becomes X with L·Lᵀ·X = B, reading only the lower
// triangle of l. Two triangular solves, row-major throughout (cblas handles the layout). spotrs: the same
// in float32 (strsm).
template <typename T>
Napi::Value Potrs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int n, m;
  T *l, *b;
  if (!GetDim(info, 1, "n", &n) || !GetDim(info, 3, "m", &m) || !GetArray(info, 0, "l", Elems(n, n), &l) ||
      !GetArray(info, 2, "b", Elems(n, m), &b)) {
    return env.Undefined();
  }
  if (n == 0 || m == 0) return env.Undefined();
  Real<T>::kTrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, n, m, T(1), l, n, b, m);
  Real<T>::kTrsm(CblasRowMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, n, m, T(1), l, n, b, m);
  return env.Undefined();
}

// ---- symmetric eigendecomposition ---------------------------------------------------------------
// dsyevd's algorithm, with the back-transformation done by us: Householder tridiagonalization (dsytrd,
// lower), divide and conquer on the tridiagonal matrix (dstedc), then the eigenvectors multiplied by the
// tridiagonalization's Q. dsyevd applies Q through dormtr in blocks of 32 reflectors, which makes its
// dgemm calls thin (k = 32) and slow; in blocks of 256 this step runs ~1.4× faster (80% of DGEMM's
// rate), and the whole takes ~20% less time than dsyevd at n = 8192. dsytrd stays memory-bound (half
// its flops are dsymv); 'L' because it runs ~10% faster than 'U' here. dsyevr (MRRR) was slower:
// dstemr, single-threaded, takes longer than dstedc on these matrices.
namespace eigen {

constexpr int kReflectorBlock = 256;

// c (rows × n−1, column-major) ← c·Q̃ᵀ, where Q = diag(1, Q̃) = H(0)·…·H(n−2) comes from dsytrd('L') on a
// (reflector i is column i of a below the subdiagonal, scaled by tau[i]). Blocks of reflectors are
// applied last to first, each as one compact-WY update (dlarft, dlarfb).
void MultiplyByQTransposed(int n, double* a, const double* tau, int rows, double* c, double* t, double* work) {
  const int m = n - 1;  // Q̃'s order and its number of reflectors
  if (m == 0) return;
  double* v = a + 1;    // Q̃'s reflectors start one row down
  for (int i = (m - 1) / kReflectorBlock * kReflectorBlock; i >= 0; i -= kReflectorBlock) {
    const int ib = std::min(kReflectorBlock, m - i), length = m - i;
    double* vi = v + static_cast<size_t>(i) * n + i;
    dlarft_("F", "C", &length, &ib, vi, &n, tau + i, t, &kReflectorBlock, 1, 1);
    dlarfb_("R", "T", "F", "C", &rows, &length, &ib, vi, &n, t, &kReflectorBlock, c + static_cast<size_t>(i) * rows,
            &rows, work, &rows, 1, 1, 1, 1);
  }
}

// Transposes work on 32×32 tiles, so that both sides of every access stay in cache.
constexpr size_t kTile = 32;

// Square n×n in place.
template <typename T>
void TransposeInPlace(T* a, size_t n) {
  for (size_t i0 = 0; i0 < n; i0 += kTile)
    for (size_t j0 = i0; j0 < n; j0 += kTile)
      for (size_t i = i0; i < std::min(i0 + kTile, n); i++)
        for (size_t j = std::max(j0, i + 1); j < std::min(j0 + kTile, n); j++) std::swap(a[i * n + j], a[j * n + i]);
}

// a's lower triangle (row-major n×n) into b's lower triangle read column-major, b[j·n + i] = a[i·n + j]
// for j ≤ i; returns the largest |entry|.
double CopyLowerTransposed(const double* a, double* b, size_t n) {
  double largest = 0;
  for (size_t i0 = 0; i0 < n; i0 += kTile)
    for (size_t j0 = 0; j0 <= i0; j0 += kTile)
      for (size_t i = i0; i < std::min(i0 + kTile, n); i++)
        for (size_t j = j0; j < std::min(j0 + kTile, i + 1); j++) {
          b[j * n + i] = a[i * n + j];
          largest = std::max(largest, std::abs(a[i * n + j]));
        }
  return largest;
}

}  // namespace eigen

// symmetricEigen(a, vectors, n, values): values ← the eigenvalues of a (row-major symmetric n×n, lower
// triangle read) ascending, vectors (row-major n×n) ← the eigenvectors as columns; a is not modified.
// Returns dstedc's info (0 = converged).
Napi::Value SymmetricEigen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int n;
  double *a, *vectors, *values;
  if (!GetDim(info, 2, "n", &n) || !GetF64(info, 0, "a", Elems(n, n), &a) ||
      !GetF64(info, 1, "vectors", Elems(n, n), &vectors) || !GetF64(info, 3, "values", n, &values)) {
    return env.Undefined();
  }
  if (n == 0) return Napi::Number::New(env, 0);
  const size_t nn = static_cast<size_t>(n);
  // dstedc needs 1 + 4n + n² doubles, beyond a 32-bit LAPACK's reach for n ≳ 46k.
  if (1 + 4 * static_cast<double>(n) + static_cast<double>(n) * n > INT_MAX) {
    ThrowError(env, "linalg native: symmetricEigen needs more workspace than a 32-bit LAPACK can address");
    return env.Undefined();
  }
  int lwork = 1 + 4 * n + n * n, liwork = 3 + 5 * n;
  // reflectors: a's lower triangle as LAPACK's column-major lower one, then dsytrd's Householder vectors.
  // work: sized for dstedc, which needs the most; dsytrd and the back-transformation use it too.
  double* reflectors = static_cast<double*>(std::malloc(Elems(n, n) * sizeof(double)));
  double* work = static_cast<double*>(std::malloc(static_cast<size_t>(lwork) * sizeof(double)));
  double* offDiagonal = static_cast<double*>(std::malloc(2 * nn * sizeof(double)));
  double* t = static_cast<double*>(std::malloc(Elems(eigen::kReflectorBlock, eigen::kReflectorBlock) * sizeof(double)));
  int* iwork = static_cast<int*>(std::malloc(static_cast<size_t>(liwork) * sizeof(int)));
  auto release = [&] {
    std::free(reflectors);
    std::free(work);
    std::free(offDiagonal);
    std::free(t);
    std::free(iwork);
  };
  if (reflectors == nullptr || work == nullptr || offDiagonal == nullptr || t == nullptr || iwork == nullptr) {
    release();
    ThrowError(env, "linalg native: out of memory for the symmetricEigen workspace (" + std::to_string(lwork) +
                        " doubles)");
    return env.Undefined();
  }
  double* tau = offDiagonal + nn;
  const double largest = eigen::CopyLowerTransposed(a, reflectors, nn);
  // As dsyevd: a matrix whose largest entry is below √(safe minimum / ε) or above its reciprocal is scaled
  // to that bound, so that the reduction neither under- nor overflows.
  const double safe = DBL_MIN / DBL_EPSILON, lower = std::sqrt(safe), upper = std::sqrt(1 / safe);
  const double scale = largest > 0 && largest < lower ? lower / largest : largest > upper ? upper / largest : 1;
  if (scale != 1)
    for (size_t j = 0; j < nn; j++)
      for (size_t i = j; i < nn; i++) reflectors[j * nn + i] *= scale;
  int status = 0;
  dsytrd_("L", &n, reflectors, &n, values, offDiagonal, tau, work, &lwork, &status, 1);
  if (status == 0) dstedc_("I", &n, values, offDiagonal, vectors, &n, work, &lwork, iwork, &liwork, &status, 1);
  if (status == 0) {
    // vectors holds the tridiagonal matrix's eigenvectors Z column-major; as Zᵀ column-major, Q·Z is
    // (Zᵀ·Qᵀ)ᵀ, i.e. Zᵀ·Qᵀ column-major is Q·Z row-major, the layout JavaScript wants.
    eigen::TransposeInPlace(vectors, nn);
    eigen::MultiplyByQTransposed(n, reflectors, tau, n, vectors + nn, t, work);
    if (scale != 1)
      for (size_t i = 0; i < nn; i++) values[i] /= scale;
  }
  release();
  if (status < 0) {
    ThrowError(env, "linalg native: LAPACK rejected argument " + std::to_string(-status));
    return env.Undefined();
  }
  return Napi::Number::New(env, status);
}

// symmetricEigenF32(a, vectors, n, values) and symmetricEigenvalues{,F32}(a, n, values): LAPACK's xsyevd
// on a copy of a (row-major symmetric n×n, lower triangle read; row-major lower is column-major upper,
// hence uplo 'U'). With vectors (jobz 'V') they come back as columns of the row-major array, like
// symmetricEigen's. Values only (jobz 'N': tridiagonalization and the root-free QR of xsterf, no
// back-transformation) costs a fraction of a full decomposition: the kernel spectrum recorded per trial.
// Float32 is plain ssyevd: our faster float64 driver above is tuned for large float64 solves, and the
// float32 path exists to show float32's rounding, not to be fast. Returns xsyevd's info (0 = converged).
template <typename T>
Napi::Value Syevd(const Napi::CallbackInfo& info, bool withVectors) {
  Napi::Env env = info.Env();
  int n;
  T *a, *vectors = nullptr, *values;
  const size_t nIndex = withVectors ? 2 : 1, valuesIndex = withVectors ? 3 : 2;
  if (!GetDim(info, nIndex, "n", &n) || !GetArray(info, 0, "a", Elems(n, n), &a) ||
      (withVectors && !GetArray(info, 1, "vectors", Elems(n, n), &vectors)) ||
      !GetArray(info, valuesIndex, "values", n, &values)) {
    return env.Undefined();
  }
  if (n == 0) return Napi::Number::New(env, 0);
  const double lworkNeeded = withVectors ? 1 + 6 * static_cast<double>(n) + 2 * static_cast<double>(n) * n : 2 * static_cast<double>(n) + 1;
  if (lworkNeeded > INT_MAX) {
    ThrowError(env, std::string("linalg native: ") + Real<T>::kSyevdName + " needs more workspace than a 32-bit LAPACK can address");
    return env.Undefined();
  }
  int lwork = static_cast<int>(lworkNeeded), liwork = withVectors ? 3 + 5 * n : 1;
  T* copy = withVectors ? vectors : static_cast<T*>(std::malloc(Elems(n, n) * sizeof(T)));
  T* work = static_cast<T*>(std::malloc(static_cast<size_t>(lwork) * sizeof(T)));
  int* iwork = static_cast<int*>(std::malloc(static_cast<size_t>(liwork) * sizeof(int)));
  auto release = [&] {
    if (!withVectors) std::free(copy);
    std::free(work);
    std::free(iwork);
  };
  if (copy == nullptr || work == nullptr || iwork == nullptr) {
    release();
    ThrowError(env, std::string("linalg native: out of memory for the ") + Real<T>::kSyevdName + " workspace");
    return env.Undefined();
  }
  std::memcpy(copy, a, Elems(n, n) * sizeof(T));
  int status = 0;
  Real<T>::kSyevd(withVectors ? "V" : "N", "U", &n, copy, &n, values, work, &lwork, iwork, &liwork, &status, 1, 1);
  // xsyevd leaves the eigenvectors as the columns of a column-major array: rows of our row-major one.
  if (status == 0 && withVectors) eigen::TransposeInPlace(vectors, static_cast<size_t>(n));
  release();
  if (status < 0) {
    ThrowError(env, std::string("linalg native: ") + Real<T>::kSyevdName + " rejected argument " + std::to_string(-status));
    return env.Undefined();
  }
  return Napi::Number::New(env, status);
}

Napi::Value SymmetricEigenF32(const Napi::CallbackInfo& info) { return Syevd<float>(info, true); }
template <typename T>
Napi::Value SymmetricEigenvalues(const Napi::CallbackInfo& info) { return Syevd<T>(info, false); }

// ---- exact gram ---------------------------------------------------------------------------------
// gram(x1, x2) = x1·x2ᵀ with every entry summed exactly as the TypeScript gram does it: s = 0, then
// s += x1[i][k]·x2[j][k] for k = 0, 1, ..., d−1, each product and each sum rounded separately (no FMA:
// binding.gyp compiles with -ffp-contract=off). So entries are bit-identical to the TypeScript backend,
// independent of the matrix shapes, of any tiling of the rows, and of the thread count, and a symmetric
// gram's diagonal equals the sequentially summed squared norms; libs/kernels relies on all three.
// Speed comes from SIMD across entries (each vector lane is one entry with its own sequential sum),
// register tiling and threads, not from reassociating the sum.
namespace exact {

struct Job {
  const double* a;        // n1 × d, row-major
  size_t n1;
  const double* packed;   // x2 in panels of NR rows, k-major: packed[(p·d + k)·NR + w] = x2[p·NR + w][k]
  size_t n2;
  size_t d;
  double* c;              // n1 × n2
  bool symmetric;         // compute entries with j ≥ i only (the caller mirrors)
  size_t rowBlock;
  size_t blocks;
  std::atomic<size_t>* next;
  // Processes rows [i0, i1) using apack (rowBlock × KC doubles of scratch); false when out of memory.
  void (*rows)(const Job&, size_t, size_t, double*);
};

// Entries are accumulated over k in chunks of KC (the partial sums wait in c between chunks, which
// keeps the order of additions, hence the bits): a chunk of a packed panel then stays in L1.
constexpr size_t KC = 192;

// MR rows (packed k-major: ap[k·MR + r]) against one panel chunk of 2·VW columns (bp[k·NR + w]):
// MR × 2 vector accumulators, one lane per entry, starting from 0 or from the partial sums in c.
template <int VW, int MR>
static inline __attribute__((always_inline)) void MicroTile(const double* ap, const double* bp, size_t kc, bool first,
                                                            double* c, size_t ldc, size_t rows, size_t cols) {
  typedef double V __attribute__((vector_size(VW * sizeof(double))));
  constexpr int NR = 2 * VW;
  V lo[MR], hi[MR];
  const bool full = rows == static_cast<size_t>(MR) && cols == static_cast<size_t>(NR);
#pragma GCC unroll 16
  for (int r = 0; r < MR; r++) {
    if (first) {
      lo[r] = hi[r] = V{};
    } else if (full) {
      std::memcpy(&lo[r], c + r * ldc, sizeof(V));
      std::memcpy(&hi[r], c + r * ldc + VW, sizeof(V));
    } else {
      double tmp[NR] = {};
      if (static_cast<size_t>(r) < rows)
        for (size_t w = 0; w < cols; w++) tmp[w] = c[r * ldc + w];
      std::memcpy(&lo[r], tmp, sizeof(V));
      std::memcpy(&hi[r], tmp + VW, sizeof(V));
    }
  }
  for (size_t k = 0; k < kc; k++) {
    V b0, b1;
    std::memcpy(&b0, bp + k * NR, sizeof(V));
    std::memcpy(&b1, bp + k * NR + VW, sizeof(V));
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++) {
      const double ark = ap[k * MR + r];
      lo[r] += b0 * ark;
      hi[r] += b1 * ark;
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; r++) {
    if (full) {
      std::memcpy(c + r * ldc, &lo[r], sizeof(V));
      std::memcpy(c + r * ldc + VW, &hi[r], sizeof(V));
    } else if (static_cast<size_t>(r) < rows) {
      double tmp[NR];
      std::memcpy(tmp, &lo[r], sizeof(V));
      std::memcpy(tmp + VW, &hi[r], sizeof(V));
      for (size_t w = 0; w < cols; w++) c[r * ldc + w] = tmp[w];
    }
  }
}

template <int VW, int MR>
static inline __attribute__((always_inline)) void Rows(const Job& job, size_t i0, size_t i1, double* apack) {
  constexpr size_t NR = 2 * VW;
  const size_t d = job.d;
  const size_t tiles = (i1 - i0 + MR - 1) / MR;
  for (size_t k0 = 0; k0 < d; k0 += KC) {
    const size_t kc = std::min(KC, d - k0);
    // Pack this chunk of the rows, MR rows at a time, k-major; rows past i1 are zeros (never stored).
    for (size_t t = 0; t < tiles; t++) {
      double* dst = apack + t * kc * MR;
      for (size_t r = 0; r < static_cast<size_t>(MR); r++) {
        const size_t i = i0 + t * MR + r;
        if (i < i1) {
          const double* src = job.a + i * d + k0;
          for (size_t k = 0; k < kc; k++) dst[k * MR + r] = src[k];
        } else {
          for (size_t k = 0; k < kc; k++) dst[k * MR + r] = 0;
        }
      }
    }
    for (size_t j0 = 0; j0 < job.n2; j0 += NR) {
      const size_t cols = std::min(NR, job.n2 - j0);
      const double* bp = job.packed + (j0 / NR) * d * NR + k0 * NR;
      // Symmetric: row i needs this panel only if some column j ≥ i is in it.
      const size_t iEnd = job.symmetric ? std::min(i1, j0 + cols) : i1;
      for (size_t t = 0; t < tiles; t++) {
        const size_t i = i0 + t * MR;
        if (i >= iEnd) break;
        MicroTile<VW, MR>(apack + t * kc * MR, bp, kc, k0 == 0, job.c + i * job.n2 + j0, job.n2,
                          std::min<size_t>(MR, i1 - i), cols);
      }
    }
  }
}

__attribute__((target("avx512f"))) void RowsAvx512(const Job& job, size_t i0, size_t i1, double* ap) { Rows<8, 6>(job, i0, i1, ap); }
__attribute__((target("avx2"))) void RowsAvx2(const Job& job, size_t i0, size_t i1, double* ap) { Rows<4, 6>(job, i0, i1, ap); }
void RowsSse2(const Job& job, size_t i0, size_t i1, double* ap) { Rows<2, 4>(job, i0, i1, ap); }

void* Worker(void* arg) {
  const Job& job = *static_cast<const Job*>(arg);
  double* apack = static_cast<double*>(std::malloc((job.rowBlock + 8) * KC * sizeof(double)));
  if (apack == nullptr) return arg;  // the other threads (or the caller's) take the blocks
  for (size_t b = job.next->fetch_add(1); b < job.blocks; b = job.next->fetch_add(1)) {
    const size_t i0 = b * job.rowBlock;
    job.rows(job, i0, std::min(job.n1, i0 + job.rowBlock), apack);
  }
  std::free(apack);
  return nullptr;
}

// The vector width this CPU runs: 8 (AVX-512), 4 (AVX2) or 2 (SSE2, every x86-64).
int VectorWidth() {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f")) return 8;
  if (__builtin_cpu_supports("avx2")) return 4;
#endif
  return 2;
}

// Returns false when out of memory.
bool Gram(const double* a, size_t n1, const double* b, size_t n2, size_t d, double* c, bool symmetric, int threads) {
  const int vw = VectorWidth();
  const size_t nr = 2 * static_cast<size_t>(vw);
  const size_t panels = (n2 + nr - 1) / nr;
  double* packed = static_cast<double*>(std::malloc(std::max<size_t>(1, panels * nr * d) * sizeof(double)));
  if (packed == nullptr) return false;
  for (size_t p = 0; p < panels; p++) {
    double* panel = packed + p * d * nr;
    for (size_t w = 0; w < nr; w++) {
      const size_t j = p * nr + w;
      if (j < n2) {
        const double* src = b + j * d;
        for (size_t k = 0; k < d; k++) panel[k * nr + w] = src[k];
      } else {
        for (size_t k = 0; k < d; k++) panel[k * nr + w] = 0;
      }
    }
  }
  std::atomic<size_t> next{0};
  Job job{a, n1, packed, n2, d, c, symmetric, 96, 0, &next, vw == 8 ? RowsAvx512 : vw == 4 ? RowsAvx2 : RowsSse2};
  job.blocks = (n1 + job.rowBlock - 1) / job.rowBlock;
  // Threads only where they pay for themselves (~50 µs to start): about 10⁷ multiply-adds or more.
  const double work = static_cast<double>(n1) * static_cast<double>(n2) * static_cast<double>(d) * (symmetric ? 0.5 : 1);
  int extra = work < 1e7 ? 0 : std::min<int>(threads, static_cast<int>(job.blocks)) - 1;
  pthread_t ids[64];
  int started = 0;
  for (; started < std::min(extra, 64); started++) {
    if (pthread_create(&ids[started], nullptr, Worker, &job) != 0) break;  // fewer threads, same result
  }
  bool ok = Worker(&job) == nullptr;
  for (int t = 0; t < started; t++) {
    void* result = nullptr;
    pthread_join(ids[t], &result);
    ok = ok || result == nullptr;
  }
  std::free(packed);
  if (!ok) return false;  // no thread could allocate its scratch
  if (symmetric) MirrorUpperToLower(c, static_cast<int>(n1));
  return true;
}

}  // namespace exact

// gramExact(x1, n1, x2, n2, d, c, symmetric): c ← x1·x2ᵀ (n1 × n2) with the TypeScript gram's exact
// per-entry arithmetic (see namespace exact). With symmetric, x2 must be x1 (n2 = n1) and c comes out
// exactly symmetric.
Napi::Value GramExact(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int n1, n2, d;
  bool symmetric;
  double *x1, *x2, *c;
  if (!GetDim(info, 1, "n1", &n1) || !GetDim(info, 3, "n2", &n2) || !GetDim(info, 4, "d", &d) ||
      !GetBool(info, 6, "symmetric", &symmetric) || !GetF64(info, 0, "x1", Elems(n1, d), &x1) ||
      !GetF64(info, 2, "x2", Elems(n2, d), &x2) || !GetF64(info, 5, "c", Elems(n1, n2), &c)) {
    return env.Undefined();
  }
  if (symmetric && n1 != n2) {
    ThrowError(env, "linalg native gramExact: symmetric needs n1 = n2");
    return env.Undefined();
  }
  if (n1 == 0 || n2 == 0) return env.Undefined();
  if (d == 0) {
    std::memset(c, 0, Elems(n1, n2) * sizeof(double));
    return env.Undefined();
  }
  if (!exact::Gram(x1, n1, x2, n2, d, c, symmetric, openblas_get_num_threads())) {
    ThrowError(env, "linalg native: out of memory packing gram's second operand");
  }
  return env.Undefined();
}

// info(): what the process is linked against and how many threads OpenBLAS will use.
Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("config", Napi::String::New(env, openblas_get_config()));
  out.Set("corename", Napi::String::New(env, openblas_get_corename()));
  out.Set("threads", Napi::Number::New(env, openblas_get_num_threads()));
  out.Set("procs", Napi::Number::New(env, openblas_get_num_procs()));
  // 0 = sequential build, 1 = pthreads, 2 = OpenMP.
  out.Set("parallel", Napi::Number::New(env, openblas_get_parallel()));
  // SIMD width (doubles) of the exact gram kernel on this CPU.
  out.Set("gramVectorWidth", Napi::Number::New(env, exact::VectorWidth()));
  return out;
}

// setThreads(n): OpenBLAS's thread count for this process (all callers share it).
Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  int n;
  if (!GetDim(info, 0, "threads", &n)) return info.Env().Undefined();
  openblas_set_num_threads(n < 1 ? 1 : n);
  return Napi::Number::New(info.Env(), openblas_get_num_threads());
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("dgemm", Napi::Function::New(env, Gemm<double>, "dgemm"));
  exports.Set("sgemm", Napi::Function::New(env, Gemm<float>, "sgemm"));
  exports.Set("dsyrk", Napi::Function::New(env, Dsyrk, "dsyrk"));
  exports.Set("gramExact", Napi::Function::New(env, GramExact, "gramExact"));
  exports.Set("cholesky", Napi::Function::New(env, Cholesky<double>, "cholesky"));
  exports.Set("choleskyF32", Napi::Function::New(env, Cholesky<float>, "choleskyF32"));
  exports.Set("dpotrs", Napi::Function::New(env, Potrs<double>, "dpotrs"));
  exports.Set("spotrs", Napi::Function::New(env, Potrs<float>, "spotrs"));
  exports.Set("symmetricEigen", Napi::Function::New(env, SymmetricEigen, "symmetricEigen"));
  exports.Set("symmetricEigenF32", Napi::Function::New(env, SymmetricEigenF32, "symmetricEigenF32"));
  exports.Set("symmetricEigenvalues", Napi::Function::New(env, SymmetricEigenvalues<double>, "symmetricEigenvalues"));
  exports.Set("symmetricEigenvaluesF32", Napi::Function::New(env, SymmetricEigenvalues<float>, "symmetricEigenvaluesF32"));
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
  return exports;
}

}  // namespace

NODE_API_MODULE(ntk_linalg, Init)
