// The CUDA entry points of builds without the CUDA backend (no nvcc at build time).
#include "../backend.h"
#include "../status.h"

namespace autoscale {

std::unique_ptr<Backend> make_cuda_backend(const BackendOptions&) {
  throw NativeError(ErrorCode::BackendUnavailable,
                    "the CUDA backend was not compiled into this build: rebuild with nvcc on PATH "
                    "(AUTOSCALE_CUDA=ON npm run build:native)");
}

bool cuda_compiled() { return false; }
std::vector<DeviceInfo> cuda_devices() { return {}; }
std::string cuda_unavailable_reason() { return "not compiled in"; }

}  // namespace autoscale
