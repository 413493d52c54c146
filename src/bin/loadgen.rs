//! `loadgen`: drive an echo server with many connections and report
//! throughput, latency and the server's per-request costs. The command line
//! lives in the library (`muxbench::loadgen::command`).

fn main() {
    std::process::exit(muxbench::loadgen::command::main());
}
