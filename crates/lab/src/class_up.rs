//! `custos-lab class up` and `class report` (the binary's side; the roster and the report are
//! in the library's `class` module).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use custos_lab::class::{self, Roster, RosterStudent, ROSTER_FILE};
use custos_lab::{Error, Lab, LabConfig, Scenario};

/// One lab to start: its data directory and scenario.
struct Job {
    data: PathBuf,
    scenario: Scenario,
}

/// Starts the labs two at a time (the class machine is small; a build is CPU-bound).
fn start_labs(jobs: Vec<Job>, source: &str) -> Result<Vec<Lab>, Error> {
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Result<Lab, Error>>>> =
        jobs.iter().map(|_| Mutex::new(None)).collect();
    let workers = std::thread::available_parallelism()
        .map_or(2, usize::from)
        .clamp(1, 4);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(job) = jobs.get(i) else { break };
                let cfg = LabConfig {
                    data_dir: Some(job.data.clone()),
                    ..LabConfig::scenario(source)
                };
                let lab = Lab::start_scenario(job.scenario.clone(), cfg);
                if let Ok(mut slot) = slots[i].lock() {
                    *slot = Some(lab);
                }
            });
        }
    });
    let mut labs = Vec::new();
    for slot in slots {
        let r = slot
            .into_inner()
            .map_err(|_| Error::Control("a lab start thread panicked".into()))?
            .ok_or_else(|| Error::Control("a lab was never started".into()))?;
        labs.push(r?);
    }
    Ok(labs)
}

/// Writes the students' folders, starts their labs, writes the roster, prints the connection
/// lines and serves until `stop`. On a failure before serving, what it wrote is removed.
pub(crate) fn up(
    n: usize,
    scenario: &str,
    dir: &Path,
    shared: bool,
    stop: &AtomicBool,
) -> Result<ExitCode, Error> {
    let base = Scenario::resolve(scenario)?;
    let roster_path = dir.join(ROSTER_FILE);
    for p in [roster_path, dir.join("students"), dir.join("labs")] {
        if p.exists() {
            return Err(Error::File(custos_core::file::FileError::Exists {
                path: p,
            }));
        }
    }
    std::fs::create_dir_all(dir.join("students")).map_err(|e| Error::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let cleanup = || {
        let _ = std::fs::remove_dir_all(dir.join("students"));
        let _ = std::fs::remove_dir_all(dir.join("labs"));
    };
    match start_class(n, scenario, &base, dir, shared) {
        Ok((roster, labs)) => serve(&roster, labs, dir, stop),
        Err(e) => {
            cleanup();
            Err(e)
        }
    }
}

fn start_class(
    n: usize,
    scenario: &str,
    base: &Scenario,
    dir: &Path,
    shared: bool,
) -> Result<(Roster, Vec<Lab>), Error> {
    let ids = class::student_ids(n);
    let mut jobs = Vec::new();
    for id in &ids {
        let out = dir.join(class::material_dir(id));
        if shared {
            custos_lab::variant::write_scenario_copy(scenario, &out)?;
        } else {
            custos_lab::variant::write_variant(scenario, id, &out)?;
            jobs.push(Job {
                data: dir.join(class::data_dir(Some(id))),
                scenario: custos_lab::variant::variant_scenario(scenario, id)?,
            });
        }
    }
    if shared {
        jobs.push(Job {
            data: dir.join(class::data_dir(None)),
            scenario: base.clone(),
        });
    }
    let labs = start_labs(jobs, scenario)?;
    let students = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let (lab, data) = if shared {
                (&labs[0], class::data_dir(None))
            } else {
                (&labs[i], class::data_dir(Some(id)))
            };
            RosterStudent {
                id: id.clone(),
                material: class::material_dir(id),
                data,
                port: lab.addr().port(),
            }
        })
        .collect();
    let roster = Roster {
        scenario: scenario.to_string(),
        scenario_name: base.name.clone(),
        shared,
        students,
    };
    // Written aside and renamed: whoever waits for the roster never reads half of it.
    let staged = dir.join(format!(".{ROSTER_FILE}.partial"));
    let _ = std::fs::remove_file(&staged);
    custos_core::file::write_new(&staged, roster.to_toml()?.as_bytes())?;
    std::fs::rename(&staged, dir.join(ROSTER_FILE)).map_err(|e| Error::Io {
        path: dir.join(ROSTER_FILE),
        source: e,
    })?;
    Ok((roster, labs))
}

fn serve(
    roster: &Roster,
    labs: Vec<Lab>,
    dir: &Path,
    stop: &AtomicBool,
) -> Result<ExitCode, Error> {
    let mut text = format!(
        "custos-lab class: {} students on {} ({}), roster {}\n",
        roster.students.len(),
        roster.scenario_name,
        if roster.shared {
            "one shared chain"
        } else {
            "one variant and lab each"
        },
        dir.join(ROSTER_FILE).display()
    );
    for s in &roster.students {
        let url = format!("tcp://127.0.0.1:{}", s.port);
        text.push_str(&format!(
            "{id}  electrum 127.0.0.1:{port}  material {mat}  custos --network regtest --case CASE inspect WATCH.json --server {url}\n",
            id = s.id,
            port = s.port,
            mat = dir.join(&s.material).display(),
        ));
    }
    text.push_str("serving until Ctrl-C\n");
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
    drop(out);
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(labs);
    eprintln!("custos-lab class: stopped");
    Ok(ExitCode::SUCCESS)
}

/// `class report`: the table to stdout, CSV and HTML written together or not at all.
pub(crate) fn report(
    dir: &Path,
    cases: &Path,
    csv: Option<&Path>,
    html: Option<&Path>,
) -> Result<ExitCode, Error> {
    if !cases.is_dir() {
        return Err(Error::File(custos_core::file::FileError::NotFound {
            path: cases.to_path_buf(),
        }));
    }
    let r = class::report(dir, cases)?;
    let roster = Roster::load(dir)?;
    let mut files = Vec::new();
    if let Some(p) = csv {
        files.push((p.to_path_buf(), r.to_csv().into_bytes()));
    }
    if let Some(p) = html {
        let title = format!("class report: {}", roster.scenario_name);
        files.push((p.to_path_buf(), r.to_html(&title).into_bytes()));
    }
    custos_core::file::write_all_new(&files)?;
    let mut out = std::io::stdout().lock();
    let _ = out
        .write_all(r.to_text().as_bytes())
        .and_then(|_| out.flush());
    Ok(ExitCode::SUCCESS)
}
