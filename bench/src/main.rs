//! `switchyard-bench`: the load generator of Switchyard's benchmarks (`bench/run` starts the
//! servers and calls it). It talks only to the loopback addresses it is given, and every run is
//! bounded in count and time.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

mod admin;
mod agents;
mod etcd;
mod floor;
mod publish;
mod rollout;
mod sign;

use agents::{Arrival, Fleet};

#[derive(Debug, Parser)]
#[command(name = "switchyard-bench", about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Simulated agents long-poll; one publish; how long until each holds the verified profile.
    Wakeup {
        /// A server's base URL (loopback); given twice, the agents are spread over both and
        /// the publish goes to the first.
        #[arg(long = "server", required = true)]
        servers: Vec<String>,
        /// The `admin` user's password.
        #[arg(long, env = "SWITCHYARD_BENCH_ADMIN_PASSWORD")]
        admin_password: String,
        /// How many agents (1 to 10000: one enrollment token's limit).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        agents: u32,
        /// How many publishes, one after the other.
        #[arg(long, default_value_t = 3)]
        runs: u32,
        /// The servers' process ids, to read their memory with every agent waiting.
        #[arg(long = "server-pid")]
        server_pids: Vec<u32>,
        /// A name for the printed lines.
        #[arg(long, default_value = "switchyard")]
        label: String,
        /// `perf record --control` FIFO: sampling is enabled from the publish until every
        /// agent has its answer, so that a profile shows the wake-up alone.
        #[arg(long)]
        perf_control: Option<PathBuf>,
    },
    /// Profile publishes per second (audit trail included), beside reads of the same draft.
    Publish {
        /// The server's base URL (loopback).
        #[arg(long)]
        server: String,
        /// The `admin` user's password.
        #[arg(long, env = "SWITCHYARD_BENCH_ADMIN_PASSWORD")]
        admin_password: String,
        /// Operators publishing side by side, each to an environment of its own.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=32))]
        workers: u32,
        /// Publishes per operator.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=5000))]
        each: u32,
        /// A name for the printed line.
        #[arg(long, default_value = "switchyard")]
        label: String,
    },
    /// A rollout of a new npm mirror over simulated machines, a share of which cannot reach
    /// it: what the gates decide, how fast, and what the mirror health view shows.
    Rollout {
        /// The server's base URL (loopback); it should check gates every second
        /// (`SWITCHYARD_ROLLOUT_CHECK_SECS=1`).
        #[arg(long)]
        server: String,
        /// The `admin` user's password.
        #[arg(long, env = "SWITCHYARD_BENCH_ADMIN_PASSWORD")]
        admin_password: String,
        /// How many machines (10 to 10000).
        #[arg(long, value_parser = clap::value_parser!(u32).range(10..=10_000))]
        agents: u32,
        /// The share of them, labelled `site=office-b`, that cannot reach the new mirror.
        #[arg(long, value_parser = clap::value_parser!(u8).range(0..=100))]
        failing_percent: u8,
    },
    /// Enrolls one machine and signs `count` profile fetches for `wrk` (bench/fetch.lua).
    Sign {
        /// The server's base URL (loopback).
        #[arg(long)]
        server: String,
        /// The `admin` user's password.
        #[arg(long, env = "SWITCHYARD_BENCH_ADMIN_PASSWORD")]
        admin_password: String,
        /// How many requests.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=2_000_000))]
        count: u32,
        /// Where `headers`, `etag` and `envelope.json` go.
        #[arg(long)]
        out: PathBuf,
    },
    /// A bare actix-web server whose one route only waits until a publish hands it a body:
    /// the floor under the server's memory per waiting connection and under its wake-up.
    /// Runs until killed.
    FloorServer,
    /// Holds as many requests on the bare server as there are agents: its memory per waiting
    /// connection; then how long a publish takes to reach every one.
    Floor {
        /// The bare server's base URL (loopback).
        #[arg(long)]
        server: String,
        /// Its process id.
        #[arg(long)]
        pid: u32,
        /// How many requests to hold.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        connections: u32,
        /// How many publishes, one after the other.
        #[arg(long, default_value_t = 3)]
        runs: u32,
        /// The size of the body each request is answered with (an envelope's, as the
        /// wake-up prints it).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        body_bytes: u32,
    },
    /// The same with etcd watchers on its JSON gateway and one put.
    Etcd {
        /// etcd's client URL (loopback).
        #[arg(long)]
        endpoint: String,
        /// How many watchers.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        watchers: u32,
        /// How many puts.
        #[arg(long, default_value_t = 3)]
        runs: u32,
        /// etcd's process id, to read its memory with every watcher waiting.
        #[arg(long)]
        pid: Option<u32>,
    },
}

/// Milliseconds, for printing.
fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// p50, p99 and max of `values`.
fn percentiles(mut values: Vec<Duration>) -> Option<(Duration, Duration, Duration)> {
    if values.is_empty() {
        return None;
    }
    values.sort();
    let at = |share: usize| values[(values.len() * share).div_ceil(100).max(1) - 1];
    Some((at(50), at(99), *values.last()?))
}

#[allow(clippy::print_stdout)]
fn report(label: &str, count: usize, run: u32, arrivals: &[Arrival], failures: &[String]) -> bool {
    let line = |what: &str, values: Vec<Duration>| match percentiles(values) {
        Some((p50, p99, max)) => format!(
            "{what} p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            ms(p50),
            ms(p99),
            ms(max)
        ),
        None => format!("{what} none"),
    };
    let received = line("received", arrivals.iter().map(|a| a.received).collect());
    let verified = line("verified", arrivals.iter().map(|a| a.verified).collect());
    println!(
        "{label} n={count} run={run}: {received}; {verified} ({} of {count} woke)",
        arrivals.len()
    );
    for failure in failures.iter().take(3) {
        println!("  failed: {failure}");
    }
    failures.is_empty()
}

/// Resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(PathBuf::from(format!("/proc/{pid}/status"))).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

/// Prints each process's memory with `waiting[i]` connections waiting on `pids[i]`, and when
/// there are several, their sum per waiting connection.
#[allow(clippy::print_stdout)]
fn memory_line(label: &str, pids: &[u32], before: &[Option<u64>], waiting: &[usize]) {
    let (mut grown_kib, mut counted) = (0, 0);
    for ((pid, before), waiting) in pids.iter().zip(before).zip(waiting) {
        if let (Some(before), Some(now)) = (before, rss_kib(*pid)) {
            let grown = now.saturating_sub(*before);
            (grown_kib, counted) = (grown_kib + grown, counted + waiting);
            let per = grown as f64 * 1024.0 / (*waiting).max(1) as f64;
            println!(
                "{label} memory (pid {pid}): {before} KiB idle, {now} KiB with {waiting} waiting: {per:.0} bytes per waiting connection"
            );
        }
    }
    if pids.len() > 1 {
        let per = grown_kib as f64 * 1024.0 / counted.max(1) as f64;
        println!("{label} memory, all processes: {per:.0} bytes per waiting connection");
    }
}

/// How many of `count` agents wait on each of `servers` servers (agent `n` talks to server
/// `n % servers`).
fn spread(count: usize, servers: usize) -> Vec<usize> {
    (0..servers)
        .map(|server| (count + servers - 1 - server) / servers)
        .collect()
}

/// Tells a `perf record --control` FIFO to start or stop sampling.
fn perf_command(control: Option<&PathBuf>, command: &str) -> Result<(), String> {
    let Some(path) = control else { return Ok(()) };
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut fifo| {
            std::io::Write::write_all(&mut fifo, format!("{command}\n").as_bytes())
        })
        .map_err(|e| format!("perf control {}: {e}", path.display()))
}

struct WakeupRun<'a> {
    servers: &'a [String],
    password: &'a str,
    count: u32,
    runs: u32,
    pids: &'a [u32],
    label: &'a str,
    perf_control: Option<PathBuf>,
}

async fn wakeup(
    WakeupRun {
        servers,
        password,
        count,
        runs,
        pids,
        label,
        perf_control,
    }: WakeupRun<'_>,
) -> Result<bool, String> {
    let admin = admin::Admin::login(&servers[0], password).await?;
    let (environment, token) = admin.new_fleet("bench", count as usize).await?;
    let mut fleet = Fleet::enroll(servers, &token, count as usize, 64).await?;
    let mut all_woke = true;
    for run in 1..=runs {
        let revision = admin
            .save_draft(&environment, &admin::profile(u64::from(run)))
            .await?;
        // Idle connections from the last round close first: what is measured is the waiting.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let before: Vec<_> = pids.iter().map(|pid| rss_kib(*pid)).collect();
        let (admin, environment, control) =
            (admin.clone(), environment.clone(), perf_control.clone());
        let (arrivals, failures) = fleet
            .wake(servers, || async move {
                if run == 1 {
                    memory_line(label, pids, &before, &spread(count as usize, servers.len()));
                }
                perf_command(control.as_ref(), "enable")?;
                admin
                    .publish(&environment, revision)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await;
        perf_command(perf_control.as_ref(), "disable")?;
        all_woke &= report(label, fleet.len(), run, &arrivals, &failures);
    }
    let (_, envelope) = fleet.current(0).await?;
    #[allow(clippy::print_stdout)]
    {
        println!("{label} envelope: {} bytes", envelope.len());
    }
    Ok(all_woke)
}

/// Prints what a simulated rollout came to; true when its gates decided as they should:
/// completed with every machine reaching the mirror, reverted otherwise.
#[allow(clippy::print_stdout)]
fn print_rollout(outcome: &rollout::Outcome) -> bool {
    let (count, failing) = outcome.machines;
    let state = outcome.rollout["state"].as_str().unwrap_or_default();
    println!(
        "rollout n={count}, {failing} in office-b cannot reach the new mirror: {state} at wave {}; {} machines ever held the new mirror ({} of them in office-b)",
        outcome.rollout["wave"], outcome.reached.0, outcome.reached.1
    );
    for (action, at, detail) in &outcome.transitions {
        let figure = |name: &str| detail.get(name).map_or("-", String::as_str);
        println!(
            "  {at:6.1} s {action}: cohort {}, added {}, reported {}, failed applies {}, failed probes {} of {}{}",
            figure("cohort"),
            figure("added"),
            figure("reported"),
            figure("failed_applies"),
            figure("failed_probes"),
            figure("probes"),
            detail.get("gate").map(|gate| format!(" ({gate})")).unwrap_or_default()
        );
    }
    if let Some(row) = &outcome.health {
        println!(
            "  mirror health of the new mirror while it ran: {} machines probed it, {} reach it, outcomes {}",
            row["machines"], row["reachable"], row["outcomes"]
        );
    }
    match failing {
        0 => state == "completed",
        _ => state == "reverted",
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Wakeup {
            servers,
            admin_password,
            agents,
            runs,
            server_pids,
            label,
            perf_control,
        } => {
            wakeup(WakeupRun {
                servers: &servers,
                password: &admin_password,
                count: agents,
                runs,
                pids: &server_pids,
                label: &label,
                perf_control,
            })
            .await
        }
        Command::Publish {
            server,
            admin_password,
            workers,
            each,
            label,
        } => match admin::Admin::login(&server, &admin_password).await {
            Ok(admin) => publish::measure(&admin, workers as usize, each as usize)
                .await
                .map(|rates| {
                    #[allow(clippy::print_stdout)]
                    {
                        println!(
                            "{label} publish, {workers} operator(s) x {each}: {:.1} publishes/s; reading the draft {:.1} reads/s; publish/read {:.3}",
                            rates.publishes_per_second,
                            rates.reads_per_second,
                            rates.publishes_per_second / rates.reads_per_second
                        );
                    }
                    true
                }),
            Err(error) => Err(error.to_string()),
        },
        Command::Rollout {
            server,
            admin_password,
            agents,
            failing_percent,
        } => match admin::Admin::login(&server, &admin_password).await {
            Ok(admin) => rollout::simulate(&admin, &server, agents as usize, failing_percent)
                .await
                .map(|outcome| print_rollout(&outcome)),
            Err(error) => Err(error.to_string()),
        },
        Command::FloorServer => floor::serve().await.map(|()| true).map_err(|e| e.to_string()),
        Command::Floor {
            server,
            pid,
            connections,
            runs,
            body_bytes,
        } => floor::measure(
            &server,
            pid,
            connections as usize,
            runs,
            body_bytes as usize,
        )
        .await
        .map(|woken| {
            let mut all_woke = true;
            for (run, woken) in (1..).zip(&woken) {
                all_woke &= report(
                    "actix-web alone",
                    connections as usize,
                    run,
                    &woken.arrivals,
                    &woken.failures,
                );
            }
            all_woke
        }),
        Command::Sign {
            server,
            admin_password,
            count,
            out,
        } => match admin::Admin::login(&server, &admin_password).await {
            Ok(admin) => sign::prepare(&server, &admin, count as usize, &out)
                .await
                .map(|()| true),
            Err(error) => Err(error.to_string()),
        },
        Command::Etcd {
            endpoint,
            watchers,
            runs,
            pid,
        } => {
            let mut all_woke = true;
            for run in 1..=runs {
                let before = pid.and_then(rss_kib);
                let pids: Vec<u32> = pid.into_iter().collect();
                let (arrivals, failures) =
                    etcd::wake(&endpoint, watchers as usize, run as usize, || {
                        if run == 1 {
                            memory_line("etcd", &pids, &[before], &[watchers as usize]);
                        }
                    })
                    .await;
                all_woke &= report("etcd", watchers as usize, run, &arrivals, &failures);
            }
            Ok(all_woke)
        }
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("switchyard-bench: {error}");
            }
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_are_spread_over_the_servers_as_they_enroll() {
        assert_eq!(spread(10, 1), vec![10]);
        assert_eq!(spread(10_001, 2), vec![5_001, 5_000]);
        assert_eq!(spread(2, 3), vec![1, 1, 0]);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<Duration> = (1..=200).map(Duration::from_millis).collect();
        let (p50, p99, max) = percentiles(values).unwrap();
        assert_eq!(
            (p50, p99, max),
            (
                Duration::from_millis(100),
                Duration::from_millis(198),
                Duration::from_millis(200)
            )
        );
        assert_eq!(
            percentiles(vec![Duration::from_millis(7)]).unwrap().1,
            Duration::from_millis(7)
        );
        assert!(percentiles(Vec::new()).is_none());
    }
}
