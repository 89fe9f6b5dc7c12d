//! Cost per script of discovery at scale: one scan of a single unused chain whose gap is 2k,
//! 4k, 8k and 16k scripts (one discovery round of that many scripts), against the lab over the
//! Electrum protocol. Besides criterion's wall time it prints, for the scanning thread alone
//! (the lab answers on its own threads): CPU time per script (from /proc/thread-self/schedstat)
//! and the peak of memory allocated per script (a counting allocator enabled on that thread).
//! Flat figures across the sizes mean linear cost.
//!
//! `nice cargo bench -p custos-inspect --bench scale`
#![allow(clippy::print_stderr, clippy::unwrap_used, clippy::expect_used)]

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use custos_chain::{ElectrumOptions, ElectrumSource};
use custos_core::{
    inventory::{WatchOnly, WatchSource, WATCH_ONLY_FORMAT},
    Network,
};
use custos_inspect::{scan, Accounts, Paths, ScanOptions};
use custos_lab::{Lab, LabConfig};

/// Counts bytes allocated by threads that turned counting on; keeps the peak.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
}

fn counting() -> bool {
    ON.try_with(Cell::get).unwrap_or(false)
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counters are atomics.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if counting() {
            let now = CURRENT.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        if counting() {
            CURRENT.fetch_sub(
                l.size().min(CURRENT.load(Ordering::Relaxed)),
                Ordering::Relaxed,
            );
        }
        // SAFETY: `p` came from `alloc` with this layout.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if counting() {
            if new >= l.size() {
                let now = CURRENT.fetch_add(new - l.size(), Ordering::Relaxed) + new - l.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                CURRENT.fetch_sub(l.size() - new, Ordering::Relaxed);
            }
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// CPU time of the calling thread, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
    s.split_whitespace().next().unwrap().parse().unwrap()
}

// BIP84 test vector account 0 (mnemonic "abandon ... about"): no history on the lab chain.
const XPUB: &str = "xpub6CatWdiZiodmUeTDp8LT5or8nmbKNcuyvz7WyksVFkKB4RHwCD3XyuvPEbvqAQY3rAPshWcMLoP2fMFMKHPJ4ZeZXYVUhLv1VMrjPC7PW6V";

fn watch() -> WatchOnly {
    WatchOnly {
        format: WATCH_ONLY_FORMAT.into(),
        network: Network::Regtest,
        created: String::new(),
        material: "bench".into(),
        fingerprint: String::new(),
        sources: vec![WatchSource {
            label: "bip84/0/0".into(),
            descriptor: format!("wpkh([73c5da0a/84'/0'/0']{XPUB}/0/*)"),
            change: false,
            catalogue_id: None,
            account: None,
            wallets: vec![],
        }],
        coverage: None,
    }
}

fn scale(c: &mut Criterion) {
    let lab = Lab::start(LabConfig::scenario("seized-basic")).unwrap();
    let w = watch();
    let mut g = c.benchmark_group("discovery_scale");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    for n in [2_000u32, 4_000, 8_000, 16_000] {
        let opts = ScanOptions {
            gap_receive: n,
            gap_change: n,
            accounts: Accounts::Auto,
            paths: Paths::All,
        };
        let once = || {
            let src = ElectrumSource::connect(&lab.url(), ElectrumOptions::default()).unwrap();
            let r = scan(&w, &src, None, &opts, &mut |_| {}).unwrap();
            assert_eq!(r.scripts_scanned, n as usize);
            assert_eq!(r.rounds, 1);
            r
        };
        // Measured runs on this thread: peak memory of the first, CPU per script as the median
        // (and minimum) of RUNS runs, so one run disturbed by another process does not decide it.
        const RUNS: usize = 7;
        let mut cpus = Vec::with_capacity(RUNS);
        let mut peak = 0;
        let mut round_trips = 0;
        for run in 0..RUNS {
            CURRENT.store(0, Ordering::Relaxed);
            PEAK.store(0, Ordering::Relaxed);
            let cpu0 = thread_cpu_ns();
            ON.with(|o| o.set(run == 0));
            let r = once();
            ON.with(|o| o.set(false));
            cpus.push((thread_cpu_ns() - cpu0) / u64::from(n));
            if run == 0 {
                peak = PEAK.load(Ordering::Relaxed) / n as usize;
                round_trips = r.round_trips;
            }
        }
        cpus.sort_unstable();
        eprintln!(
            "discovery of {n} scripts: {} ns CPU per script (median of {RUNS} runs; min {}, max {}), \
             peak {peak} bytes allocated per script ({round_trips} round trips)",
            cpus[RUNS / 2],
            cpus[0],
            cpus[RUNS - 1],
        );
        g.throughput(Throughput::Elements(u64::from(n)));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| b.iter(once));
    }
    g.finish();
}

criterion_group!(benches, scale);
criterion_main!(benches);
