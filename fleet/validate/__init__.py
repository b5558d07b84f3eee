"""The real-kernel validation harness: two Linux 6.1 kernels, a QEMU guest
driven over its serial console and QMP, recorded references and the
comparison of the model with them."""
