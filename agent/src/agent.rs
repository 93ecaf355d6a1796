//! What the agent does: enroll, sync (fetch, verify, apply, report), show its status, and
//! restore. Nothing reaches a user's file before the delivery is verified.

use std::collections::BTreeMap;

use crate::clients::{self, run::Runner, Check};
use crate::clock::now;
use crate::engine::{self, Outcome, Paths};
use crate::failover::Mirrors;
use crate::pacing::{Ended, Pacing};
use crate::plan::{plan, Setting, Target};
use crate::probe;
use crate::server::{ClientError, Fetched, Server};
use crate::state::{Applied, Identity, Probed, Reported, StateDir, StateError};
use switchyard_proto::delivery::{
    open_envelope, Delivery, Envelope, EnvelopeError, Expectations, TrustedKeys, DEFAULT_CLOCK_SKEW,
};
use switchyard_proto::devices::{
    EndpointProbe, MachineFact, StatusReport, TargetState, TargetStatus,
};
use switchyard_proto::signing::{encode_public_key, SignatureError, Signed};
use switchyard_proto::Profile;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// `enroll` first.
    #[error(
        "this machine is not enrolled; run `switchyard-agent enroll --server URL --token TOKEN`"
    )]
    NotEnrolled,
    /// Enrolled already.
    #[error("this machine is enrolled already (device {0}); to enroll again, run `switchyard-agent remove` first")]
    AlreadyEnrolled(uuid::Uuid),
    /// The state folder.
    #[error(transparent)]
    State(#[from] StateError),
    /// The server.
    #[error(transparent)]
    Server(#[from] ClientError),
    /// A delivery or key set that does not verify: nothing was written.
    #[error("the delivery was refused and nothing was written: {0}")]
    Refused(String),
    /// Settings or arguments.
    #[error("{0}")]
    Config(String),
}

/// How long what the clients said is trusted while nothing is written.
const RECHECK: time::Duration = time::Duration::minutes(15);

/// How often `run` probes the endpoints of an unchanged delivery (plus up to half again).
const PROBE_EVERY: time::Duration = time::Duration::minutes(10);

/// How often `run` probes while a fallback stands in for a mirror (plus up to half again):
/// the mirror is taken back after [`crate::failover::RETURN_AFTER`] answers in a row.
const PROBE_FAILED_OVER: time::Duration = time::Duration::minutes(1);

/// How long before a mirror in use that failed a probe is probed again.
const CONFIRM_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// The longest one probe may take, to connect and to answer.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// How often `run` reports a status that has not changed, so that the server's view of the
/// machine (and a rollout's wave judged afresh) is never older than this.
const REPORT_HEARTBEAT: time::Duration = time::Duration::minutes(5);

/// Held while a sync writes files, the registry and the manifest.
static WRITING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Waits until no sync is writing and keeps it so while the guard lives: a stopping agent
/// takes it, then ends its process without waiting for a long-poll to return, so that a stop
/// never leaves a file written and its manifest entry not.
pub fn hold_writes() -> std::sync::MutexGuard<'static, ()> {
    WRITING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What this machine says about itself at enrollment.
#[derive(Debug, Clone)]
pub struct MachineFacts {
    /// Host name.
    pub hostname: String,
    /// Operating system.
    pub os: String,
    /// User.
    pub user: String,
}

impl MachineFacts {
    /// This machine's, as far as it can tell.
    pub fn of_this_machine() -> Self {
        let hostname = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
            .or_else(|| std::env::var("COMPUTERNAME").ok())
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "unknown".into());
        let user = ["USER", "LOGNAME", "USERNAME"]
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
            .or_else(user_of_this_process)
            .unwrap_or_else(|| "unknown".into());
        Self {
            hostname,
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            user,
        }
    }
}

/// The name of the user this process runs as, from the system's user database (`/etc/passwd`)
/// where the environment does not say (a service, `env -i`); `uid N` when it has no entry.
fn user_of_this_process() -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let uid = std::fs::metadata("/proc/self").ok()?.uid();
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let named = passwd.lines().find_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            (fields.nth(1)? == uid.to_string()).then(|| name.to_owned())
        });
        Some(named.unwrap_or_else(|| format!("uid {uid}")))
    }
    #[cfg(not(unix))]
    None
}

/// How a sync went.
#[derive(Debug)]
pub struct Synced {
    /// The delivery applied.
    pub delivery: Delivery,
    /// Whether the server sent a delivery (rather than a 304).
    pub fetched_new: bool,
    /// Whether what the machine gets changed: another baseline or overlay version, another
    /// environment or role, or a delivery after a restore (the sequence alone moves with any
    /// event anywhere on the server, so it says nothing here).
    pub changed: bool,
    /// Whether the request asked the server to wait for a change (it named the delivery
    /// held): an answer at once to a request that did not is no sign of a misbehaving relay.
    pub long_polled: bool,
    /// Each target.
    pub outcomes: Vec<Outcome>,
}

impl Synced {
    /// One line saying what was applied, for the console and the log.
    pub fn applied_line(&self) -> String {
        let delivery = &self.delivery;
        format!(
            "applied {} / {}: baseline version {}, overlay version {} (sequence {})",
            delivery.environment,
            delivery.machine_role,
            delivery.baseline_version,
            delivery.overlay_version,
            delivery.sequence
        )
    }
}

/// The agent with its folder and the files it manages.
#[derive(Debug, Clone)]
pub struct Agent {
    /// Its folder.
    pub state: StateDir,
    /// The files.
    pub paths: Paths,
    /// The environment the clients run with, to find what shadows the files.
    pub environment: BTreeMap<String, String>,
    /// The folder the clients run in (a project `.npmrc` there shadows the user's).
    pub cwd: Option<std::path::PathBuf>,
}

/// What `sync` would do.
#[derive(Debug)]
pub struct Previewed {
    /// The files it would change.
    pub previews: Vec<engine::Preview>,
    /// Targets it could not work out.
    pub failures: Vec<Outcome>,
    /// The secret values it would write, to hide when showing the changes.
    pub secrets: Vec<String>,
}

/// A round's probes, and whether they moved a mirror's choice.
struct Probes {
    probes: Vec<EndpointProbe>,
    moved: bool,
}

/// A verified delivery and how it came.
struct Verified {
    delivery: Delivery,
    envelope: Envelope,
    etag: Option<String>,
    fetched_new: bool,
    /// Whether the server was asked to wait for a change.
    long_polled: bool,
    /// The key sets trusted, with the rotations followed to verify it, when it took any: to
    /// keep once the round holds the folder.
    key_sets: Option<Vec<Signed>>,
}

fn trusted(sets: &[Signed]) -> Result<TrustedKeys, AgentError> {
    TrustedKeys::from_chain(sets).map_err(|e| AgentError::Refused(e.to_string()))
}

impl Agent {
    /// Enrolls with `token` at `server`, making this machine's key.
    pub fn enroll(
        &self,
        server: &str,
        token: &str,
        facts: &MachineFacts,
    ) -> Result<Identity, AgentError> {
        if let Some(identity) = self.state.identity()? {
            return Err(AgentError::AlreadyEnrolled(identity.device_id));
        }
        let client = Server::new(server).map_err(AgentError::Config)?;
        let fact = |text: &str| {
            fact(text).ok_or_else(|| {
                AgentError::Config(format!("{text:?} cannot be sent as a machine fact"))
            })
        };
        let key = self.state.device_key()?;
        let request = serde_json::json!({
            "token": token,
            "public_key": encode_public_key(&key.verifying_key()),
            "hostname": fact(&facts.hostname)?,
            "os": fact(&facts.os)?,
            "user": fact(&facts.user)?,
        });
        let enrollment = client.enroll(&request)?;
        // The key sets must verify before anything is kept.
        trusted(&enrollment.key_sets)?;
        self.state.save_key_sets(&enrollment.key_sets)?;
        let identity = Identity {
            server: server.trim_end_matches('/').to_owned(),
            device_id: enrollment.device_id,
            environment: enrollment.environment,
            machine_role: enrollment.machine_role,
        };
        self.state.save_identity(&identity)?;
        Ok(identity)
    }

    /// Fetches (waiting up to `wait` seconds for a change), verifies and applies the profile,
    /// then reports to the server.
    pub fn sync(&self, wait: u64) -> Result<Synced, AgentError> {
        self.sync_round(wait, false)
    }

    /// [`Agent::sync`]; with `reuse`, a round that writes nothing keeps what the clients said
    /// within [`RECHECK`] (for `run`, whose environment does not change while it runs).
    fn sync_round(&self, wait: u64, reuse: bool) -> Result<Synced, AgentError> {
        let identity = self.state.identity()?.ok_or(AgentError::NotEnrolled)?;
        let key = self.enrolled_key()?;
        let client = Server::new(&identity.server).map_err(AgentError::Config)?;
        let Verified {
            delivery,
            envelope,
            etag,
            fetched_new,
            long_polled,
            key_sets,
        } = self.fetch_verified(&client, &identity, &key, wait)?;
        // Not while the long-poll waits: another process's `sync` or `restore` would wait as
        // long.
        let _writing = self.hold_writes_enrolled()?;
        // Another process's sync may have applied a newer delivery while this one waited (or
        // answered a 304 with the one it kept): an older one is not written over it.
        let applied = self.state.applied()?;
        let accepted = self.state.accepted_sequence()?;
        let newest = applied.as_ref().map(|a| a.sequence).max(accepted);
        if newest > Some(delivery.sequence) {
            return Err(AgentError::Refused(format!(
                "delivery {} is older than delivery {} another sync applied meanwhile",
                delivery.sequence,
                newest.unwrap_or_default()
            )));
        }
        if let Some(sets) = key_sets {
            self.state.save_key_sets(&sets)?;
        }
        if fetched_new {
            self.state.save_envelope(&envelope)?;
        }
        let changed = applied.is_none_or(|a| {
            a.restored_at.is_some()
                || (a.environment.as_str(), a.machine_role.as_str())
                    != (
                        delivery.environment.as_str(),
                        delivery.machine_role.as_str(),
                    )
                || (a.baseline_version, a.overlay_version)
                    != (delivery.baseline_version, delivery.overlay_version)
        });
        // Before anything is written: a sync cut off from here on must still refuse older ones.
        if accepted < Some(delivery.sequence) {
            self.state.save_accepted_sequence(delivery.sequence)?;
        }
        let mut mirrors = self.mirrors(&delivery.profile);
        let (mut outcomes, reused) = self.apply(&delivery, &mirrors, etag.clone(), reuse)?;
        let probes = self.probes(&delivery, &mut mirrors, reused);
        if probes.moved {
            // The clients go to the mirror chosen now, in this round.
            (outcomes, _) = self.apply(&delivery, &mirrors, etag, false)?;
        }
        // Worth less than the apply: a choice not kept is made again from the next probes.
        let _ = self.state.save_mirrors(&mirrors);
        let report = StatusReport {
            sequence: delivery.sequence,
            baseline_version: delivery.baseline_version,
            overlay_version: delivery.overlay_version,
            targets: outcomes.iter().filter_map(target_status).collect(),
            drift: outcomes
                .iter()
                .flat_map(|o| o.drift.iter())
                .filter_map(|d| fact(d))
                .collect(),
            probes: probes.probes,
            mirrors: mirrors.report(),
            // What this machine was sent of the audit trail: its witness, kept server-side.
            audit_head: delivery.audit_head.clone(),
        };
        // `run` sends an unchanged report only when a heartbeat is due: each is a database
        // write on the server, and a round may come every few seconds.
        // The sequence and the audit head move with any event on the server: a report that
        // differs in them alone waits for the heartbeat too.
        let compared = StatusReport {
            sequence: 0,
            audit_head: None,
            ..report.clone()
        };
        let digest = crate::files::digest(&serde_json::to_vec(&compared).unwrap_or_default());
        let due = !reuse
            || self.state.reported().ok().flatten().is_none_or(|last| {
                last.digest != digest || !(now() - REPORT_HEARTBEAT..=now()).contains(&last.at)
            });
        // A report that does not arrive is not worth failing a sync over: the next one tells.
        if due && client.report(identity.device_id, &key, &report).is_ok() {
            let _ = self.state.save_reported(&Reported { digest, at: now() });
        }
        Ok(Synced {
            delivery,
            fetched_new,
            changed,
            long_polled,
            outcomes,
        })
    }

    /// Writes `delivery`'s profile, with each mirror replaced by the fallback `mirrors` has in
    /// use, and asks each client what it reads; answers the outcomes and whether what the
    /// clients said in the last round was reused (`reuse`: see [`Agent::sync_round`]).
    fn apply(
        &self,
        delivery: &Delivery,
        mirrors: &Mirrors,
        etag: Option<String>,
        reuse: bool,
    ) -> Result<(Vec<Outcome>, bool), AgentError> {
        let profile = mirrors.applied_to(&delivery.profile);
        let (plan, left_out) = self.plan(&profile);
        let writing = hold_writes();
        let previous = self.state.applied()?;
        let mut outcomes = engine::apply_all(&self.state, &self.paths, &plan)?;
        // A round of `run` that wrote nothing reuses what the clients said a short while ago:
        // asking npm and pip costs their start-up (about 0.2 and 0.5 s), and `run` comes back
        // every minute. Anything written, a new delivery, or `RECHECK` gone by, and they are
        // asked. A `sync` of its own always asks: its environment may differ.
        let reuse = previous.as_ref().filter(|previous| {
            reuse
                && previous.sequence == delivery.sequence
                && previous.restored_at.is_none()
                && previous
                    .checked_at
                    .is_some_and(|at| now() - at < RECHECK && at <= now())
                && outcomes.iter().all(|o| o.state == TargetState::Unchanged)
        });
        let checked_at = match reuse {
            Some(previous) => previous.checked_at,
            None => Some(now()),
        };
        // Found once a round, when a client is asked at all.
        let sessions = std::cell::OnceCell::new();
        for outcome in &mut outcomes {
            if outcome.target == Target::Shell && !left_out.is_empty() {
                note(
                    outcome,
                    format!("left out at machine scope: {}", left_out.join(", ")),
                );
            }
            let settings = plan
                .get(&outcome.target)
                .map(Vec::as_slice)
                .unwrap_or_default();
            if outcome.state == TargetState::Failed {
                continue;
            }
            if let Some(previous) = reuse {
                let said = previous.targets.iter().find(|(target, state, _)| {
                    target == outcome.target.name() && state == "shadowed"
                });
                if let Some((_, _, message)) = said {
                    outcome.state = TargetState::Shadowed;
                    outcome.message = message.clone();
                }
                continue;
            }
            let sessions: &[_] = match clients::reads_variables(outcome.target) {
                true => sessions.get_or_init(|| self.sessions()),
                false => &[],
            };
            let found = self.judged(outcome.target, settings, sessions);
            if !found.is_empty() {
                outcome.state = TargetState::Shadowed;
                note(outcome, found.join("; "));
            }
        }
        let now = now();
        self.state.save_applied(&Applied {
            sequence: delivery.sequence,
            environment: delivery.environment.clone(),
            machine_role: delivery.machine_role.clone(),
            baseline_version: delivery.baseline_version,
            overlay_version: delivery.overlay_version,
            issued_at: delivery.issued_at,
            expires_at: delivery.expires_at,
            applied_at: now,
            last_contact: now,
            etag,
            targets: outcomes
                .iter()
                .map(|o| {
                    (
                        o.target.name().to_owned(),
                        state_name(o.state).to_owned(),
                        o.message.clone(),
                    )
                })
                .collect(),
            restored_at: None,
            checked_at,
        })?;
        drop(writing);
        Ok((outcomes, reuse.is_some()))
    }

    /// The probes of `delivery`'s endpoints ([`probe`]): run now after an apply that changed
    /// anything (`quiet` false), for a new delivery, or once the last ones are due (drawn
    /// between [`PROBE_EVERY`] and half again after they ran, so that a fleet spreads out;
    /// within [`PROBE_FAILED_OVER`] while a fallback stands in for a mirror, so that machines
    /// go back soon after it answers again); otherwise the last ones again. Fresh probes move
    /// `mirrors` where [`crate::failover`]'s rules say, a mirror in use that failed once
    /// probed again at once. Probes are worth less than the report they go in: a probes file
    /// that cannot be read or kept only means probing again.
    fn probes(&self, delivery: &Delivery, mirrors: &mut Mirrors, quiet: bool) -> Probes {
        let now = now();
        let fresh = self.state.probed().ok().flatten().filter(|probed| {
            quiet && probed.sequence == delivery.sequence && probed.at <= now && now < probed.due
        });
        if let Some(probed) = fresh {
            return Probes {
                probes: probed.probes,
                moved: false,
            };
        }
        let endpoints = probe::endpoints(&delivery.profile);
        let mut probes = probe::probe_all(&endpoints, PROBE_TIMEOUT);
        let mut moved = mirrors.observe(&probes, now);
        let again: Vec<probe::Endpoint> = mirrors
            .to_confirm()
            .into_iter()
            .filter_map(|(kind, url)| {
                endpoints
                    .iter()
                    .find(|e| e.kind == kind && e.name.as_str() == url)
                    .cloned()
            })
            .collect();
        if !again.is_empty() {
            std::thread::sleep(CONFIRM_AFTER);
            let confirmed = probe::probe_all(&again, PROBE_TIMEOUT);
            moved |= mirrors.observe(&confirmed, crate::clock::now());
            for probe in confirmed {
                if let Some(earlier) = probes
                    .iter_mut()
                    .find(|p| p.kind == probe.kind && p.endpoint == probe.endpoint)
                {
                    *earlier = probe;
                }
            }
        }
        let spread = rand::Rng::gen_range(&mut rand::thread_rng(), 0.0..0.5);
        let every = match mirrors.failed_over() {
            true => PROBE_FAILED_OVER,
            false => PROBE_EVERY,
        };
        let _ = self.state.save_probed(&Probed {
            sequence: delivery.sequence,
            at: now,
            due: now + every * (1.0 + spread),
            probes: probes.clone(),
        });
        Probes { probes, moved }
    }

    /// Why `target`'s client does not read `settings` as published; empty when it does. The
    /// client itself is asked where it is installed (user scope, not on Windows yet); where it
    /// is not, or cannot be asked, its documented order of reading is followed
    /// ([`clients::modelled`]).
    pub fn what_the_client_reads(&self, target: Target, settings: &[Setting]) -> Vec<String> {
        let sessions = match !settings.is_empty() && clients::reads_variables(target) {
            true => self.sessions(),
            false => Vec::new(),
        };
        self.judged(target, settings, &sessions)
    }

    /// [`Agent::what_the_client_reads`], with the variables of the user's sessions found
    /// already ([`Agent::sessions`]): besides the agent's own environment, a variable a login
    /// file or an environment.d file sets is read by the client too.
    fn judged(
        &self,
        target: Target,
        settings: &[Setting],
        sessions: &[(&'static str, BTreeMap<String, String>)],
    ) -> Vec<String> {
        let modelled = || clients::modelled(target, settings, &self.surroundings());
        let mut found = match self.ask(target, settings) {
            Check::Read(differences) => differences,
            Check::Failed(problem) => {
                let mut found = modelled();
                found.push(format!("could not ask the client ({problem})"));
                found
            }
            Check::NotInstalled => modelled(),
        };
        found.extend(clients::set_in_sessions(
            target,
            settings,
            &self.environment,
            sessions,
        ));
        found
    }

    /// The variables the user's sessions start with (environment.d, login shells), where the
    /// clients are asked at all (user scope, not on Windows yet).
    pub fn sessions(&self) -> Vec<(&'static str, BTreeMap<String, String>)> {
        match self.runner() {
            Some(runner) => clients::sessions(&runner),
            None => Vec::new(),
        }
    }

    /// How the clients are run, where they are asked at all: at user scope, with the user's
    /// environment, in their home. At machine scope a client run by the agent would read the
    /// agent's own user's files; under Windows the clients are `.cmd` files not started yet.
    fn runner(&self) -> Option<Runner> {
        if !self.paths.secrets_allowed || cfg!(windows) {
            return None;
        }
        let home = self
            .environment
            .get("HOME")
            .map(std::path::PathBuf::from)
            .or_else(|| self.cwd.clone())
            .unwrap_or_else(|| std::path::PathBuf::from("/"));
        Some(Runner {
            env: self.environment.clone(),
            cwd: home,
            timeout: std::time::Duration::from_secs(20),
        })
    }

    /// What the clients find around the agent's files.
    pub fn surroundings(&self) -> clients::Surroundings<'_> {
        clients::Surroundings {
            paths: &self.paths,
            env: &self.environment,
            cwd: self.cwd.as_deref(),
        }
    }

    /// Asks `target`'s client what it reads for `settings`.
    pub fn ask(&self, target: Target, settings: &[Setting]) -> Check {
        let (Some(file), Some(runner)) = (self.paths.files.get(&target), self.runner()) else {
            return Check::NotInstalled;
        };
        clients::check(target, &runner, settings, file, &self.paths.profiles)
    }

    /// The mirror choices kept in the state folder, for the mirrors with fallbacks `profile`
    /// names. A mirrors file that cannot be read only means starting on the mirrors.
    fn mirrors(&self, profile: &Profile) -> Mirrors {
        let kept = self.state.mirrors().ok().flatten().unwrap_or_default();
        Mirrors::for_profile(kept, profile, now())
    }

    /// What each target should hold at this scope, and what is left out.
    fn plan(&self, profile: &Profile) -> (BTreeMap<Target, Vec<Setting>>, Vec<String>) {
        let plan = plan(profile);
        match self.paths.secrets_allowed {
            true => (plan, Vec::new()),
            false => crate::plan::for_machine(plan),
        }
    }

    /// What `sync` would change in each file, fetching and verifying as it does but writing
    /// nothing.
    pub fn preview(&self) -> Result<Previewed, AgentError> {
        let identity = self.state.identity()?.ok_or(AgentError::NotEnrolled)?;
        let client = Server::new(&identity.server).map_err(AgentError::Config)?;
        let key = self.enrolled_key()?;
        let verified = self.fetch_verified(&client, &identity, &key, 0)?;
        // The fallbacks in use now are what a sync would write (until its probes move them).
        let mirrors = self.mirrors(&verified.delivery.profile);
        let (plan, _) = self.plan(&mirrors.applied_to(&verified.delivery.profile));
        // Each once (npm's and pnpm's files carry the same tokens), as published and as its
        // file escapes it (`&amp;` in Maven's XML).
        let secrets: std::collections::BTreeSet<String> = plan
            .iter()
            .flat_map(|(target, settings)| {
                let editor = clients::of(*target).editor();
                settings
                    .iter()
                    .filter(|setting| setting.secret)
                    .flat_map(|setting| &setting.values)
                    .flat_map(move |value| [value.clone(), editor.written(value)])
            })
            .collect();
        // Longest first: a secret that starts another is hidden after it, not inside it.
        let mut secrets: Vec<String> = secrets.into_iter().collect();
        secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
        let (previews, failures) = engine::preview_all(&self.state, &self.paths, &plan)?;
        Ok(Previewed {
            previews,
            failures,
            secrets,
        })
    }

    /// Fetches the profile (waiting up to `wait` seconds for a change) and verifies it; a
    /// refusal is reported to the server.
    fn fetch_verified(
        &self,
        client: &Server,
        identity: &Identity,
        key: &ed25519_dalek::SigningKey,
        wait: u64,
    ) -> Result<Verified, AgentError> {
        let applied = self.state.applied()?;
        let stored = self.state.envelope()?;
        // Only a delivery that will still be valid after the wait may be kept by a 304.
        let fresh_enough = applied.as_ref().is_some_and(|a| {
            a.expires_at > now() + time::Duration::seconds(i64::try_from(wait).unwrap_or(0) + 60)
        });
        let etag = applied
            .as_ref()
            .filter(|_| fresh_enough && stored.is_some())
            .and_then(|a| a.etag.clone());
        let long_polled = wait > 0 && etag.is_some();
        let fetched = match client.profile(identity.device_id, key, wait, etag.as_deref()) {
            // Whoever sent it (a relay, a proxy's error page), the server hears of it as of a
            // forged delivery: the machine may be behind something that needs looking at.
            Err(ClientError::Malformed(problem)) => {
                let reason = format!("the server's answer is malformed: {problem}");
                self.report_refusal(client, identity, key, applied.as_ref(), &reason);
                return Err(AgentError::Refused(reason));
            }
            fetched => fetched?,
        };
        let (envelope, etag, fetched_new) = match fetched {
            Fetched::Changed(envelope, etag) => (envelope, etag, true),
            Fetched::Unchanged => match stored {
                Some(envelope) => (envelope, etag, false),
                None => {
                    return Err(AgentError::Refused(
                        "the server says nothing changed, but no delivery is kept".into(),
                    ))
                }
            },
        };
        let last_sequence = applied
            .as_ref()
            .map(|a| a.sequence)
            .max(self.state.accepted_sequence()?);
        let (delivery, key_sets) = match self.verify(client, identity, &envelope, last_sequence) {
            Ok(verified) => verified,
            Err(reason) => {
                self.report_refusal(client, identity, key, applied.as_ref(), &reason);
                return Err(AgentError::Refused(reason));
            }
        };
        Ok(Verified {
            delivery,
            envelope,
            etag,
            fetched_new,
            long_polled,
            key_sets,
        })
    }

    /// This machine's device key; it is made at enrollment, and an enrolled machine without
    /// it cannot prove who it is (a new one would not be the key the server knows).
    fn enrolled_key(&self) -> Result<ed25519_dalek::SigningKey, AgentError> {
        self.state.existing_device_key()?.ok_or_else(|| {
            AgentError::Config(format!(
                "this machine's device key is missing from {}, so it cannot prove to the \
                 server who it is: `switchyard-agent remove --force`, then enroll it again",
                self.state.root().display()
            ))
        })
    }

    /// [`StateDir::hold_writes`], for a machine still enrolled once it holds it: a `remove`
    /// that held it meanwhile has left nothing to write for (and writing would make again
    /// the folder it deleted).
    fn hold_writes_enrolled(&self) -> Result<std::fs::File, AgentError> {
        let held = self.state.hold_writes()?.ok_or(AgentError::NotEnrolled)?;
        self.state.identity()?.ok_or(AgentError::NotEnrolled)?;
        Ok(held)
    }

    /// Checks `envelope`, following key rotations from the server when it is signed by a key
    /// not trusted yet; with them, the key sets to trust from now on (kept by the caller).
    fn verify(
        &self,
        client: &Server,
        identity: &Identity,
        envelope: &Envelope,
        last_sequence: Option<u64>,
    ) -> Result<(Delivery, Option<Vec<Signed>>), String> {
        let mut sets = self.state.key_sets().map_err(|e| e.to_string())?;
        let mut keys = trusted(&sets).map_err(|e| e.to_string())?;
        let expect = Expectations {
            device_id: identity.device_id,
            now: now(),
            last_sequence,
            clock_skew: DEFAULT_CLOCK_SKEW,
        };
        match open_envelope(envelope, &keys, &expect) {
            Err(EnvelopeError::Signature(SignatureError::UnknownKey(_))) => {
                let newer = client.key_sets(keys.version()).map_err(|e| e.to_string())?;
                for set in &newer {
                    keys.advance(set)
                        .map_err(|e| format!("a key rotation does not verify: {e}"))?;
                }
                sets.extend(newer);
                let delivery =
                    open_envelope(envelope, &keys, &expect).map_err(|e| e.to_string())?;
                Ok((delivery, Some(sets)))
            }
            other => other
                .map(|delivery| (delivery, None))
                .map_err(|e| e.to_string()),
        }
    }

    fn report_refusal(
        &self,
        client: &Server,
        identity: &Identity,
        key: &ed25519_dalek::SigningKey,
        applied: Option<&Applied>,
        reason: &str,
    ) {
        let message = fact(&format!("delivery refused: {reason}"));
        let report = StatusReport {
            sequence: applied.map_or(0, |a| a.sequence),
            baseline_version: applied.map_or(0, |a| a.baseline_version),
            overlay_version: applied.map_or(0, |a| a.overlay_version),
            targets: fact("delivery")
                .map(|target| TargetStatus {
                    target,
                    state: TargetState::Failed,
                    message,
                })
                .into_iter()
                .collect(),
            drift: Vec::new(),
            // A refused delivery names no endpoint to trust, nor a head to witness.
            probes: Vec::new(),
            mirrors: Vec::new(),
            audit_head: None,
        };
        let _ = client.report(identity.device_id, key, &report);
        // The server now shows this refusal: the next good report goes out whatever it says.
        let _ = self.state.forget_reported();
    }

    /// Keeps the machine in sync until `stop` is set: each round waits on the server up to
    /// `wait` seconds for a change, and rounds are spaced as [`crate::pacing`] says (never
    /// closer than five seconds; backing off, with jitter, when answers come early or rounds
    /// fail). `on_round` hears how each round went and, when the next one is put off beyond
    /// the least time between rounds, for how long. Returns the error that no retry can fix
    /// (not enrolled, bad settings).
    pub fn run(
        &self,
        wait: u64,
        stop: &std::sync::atomic::AtomicBool,
        mut on_round: impl FnMut(&Result<Synced, AgentError>, Option<std::time::Duration>),
    ) -> Option<AgentError> {
        use std::sync::atomic::Ordering;
        let _running = match self.state.hold_run() {
            Ok(Some(lock)) => lock,
            Ok(None) => return Some(AgentError::Config(running_elsewhere(&self.state))),
            Err(error) => return Some(error.into()),
        };
        let mut pacing = Pacing::default();
        while !stop.load(Ordering::Relaxed) {
            let started = std::time::Instant::now();
            let round = self.sync_round(wait, true);
            let ended = match &round {
                // A request that named no delivery (the one held is about to expire) is
                // answered at once by design.
                Ok(synced) if synced.changed || !synced.long_polled => Ended::Changed,
                Ok(_) => Ended::Unchanged {
                    wait: std::time::Duration::from_secs(wait),
                },
                Err(
                    AgentError::NotEnrolled
                    | AgentError::Config(_)
                    | AgentError::AlreadyEnrolled(_),
                ) => return round.err(),
                Err(_) => Ended::Failed,
            };
            let jitter = rand::Rng::gen_range(&mut rand::thread_rng(), 0.0..0.5);
            let pause = pacing.after(ended, started.elapsed(), jitter);
            on_round(&round, pause.backing_off.then_some(pause.length));
            sleep_unless_stopped(pause.length, stop);
        }
        None
    }

    /// Undoes everything the agent wrote, records that nothing is applied any more (for
    /// `status`), and tells the server, which then shows the machine as restored rather than
    /// healthy on the version it had. Returns what could not be undone.
    pub fn restore(&self) -> Result<Vec<String>, AgentError> {
        // No folder, or one removed while this waited: nothing was written to undo.
        let Some(_held) = self.state.hold_writes()? else {
            return Ok(Vec::new());
        };
        self.restore_held()
    }

    /// [`Agent::restore`], the folder held by the caller ([`StateDir::hold_writes`]).
    fn restore_held(&self) -> Result<Vec<String>, AgentError> {
        let writing = hold_writes();
        let problems = engine::restore_all(&self.state)?;
        // Nothing is written for any mirror now: the next sync starts on the mirrors.
        let _ = self.state.save_mirrors(&Mirrors::default());
        let Some(mut applied) = self.state.applied()? else {
            return Ok(problems);
        };
        let restored = match problems.is_empty() {
            true => "restored",
            false => "failed",
        };
        for (_, state, message) in &mut applied.targets {
            *state = restored.to_owned();
            *message = (!problems.is_empty()).then(|| problems.join("; "));
        }
        applied.restored_at = Some(now());
        self.state.save_applied(&applied)?;
        drop(writing);
        if let (Some(identity), Ok(Some(key))) =
            (self.state.identity()?, self.state.existing_device_key())
        {
            let state = match problems.is_empty() {
                true => TargetState::Restored,
                false => TargetState::Failed,
            };
            let report = StatusReport {
                sequence: applied.sequence,
                baseline_version: 0,
                overlay_version: 0,
                targets: applied
                    .targets
                    .iter()
                    .filter_map(|(target, _, message)| {
                        Some(TargetStatus {
                            target: fact(target)?,
                            state,
                            message: message.as_deref().and_then(fact),
                        })
                    })
                    .collect(),
                drift: Vec::new(),
                // Nothing of the profile is in use any more.
                probes: Vec::new(),
                mirrors: Vec::new(),
                audit_head: None,
            };
            // Restore works offline; the server hears of it when it can be reached.
            if let Ok(client) = Server::new(&identity.server) {
                let _ = client.report(identity.device_id, &key, &report);
            }
            let _ = self.state.forget_reported();
        }
        Ok(problems)
    }

    /// Takes the agent off this machine: [`Agent::restore`], then the server revokes the
    /// machine at its own signed request, then the state folder goes (the device key, the
    /// last delivery with its secrets, the backups, the log). What could not be restored
    /// stops it before anything is revoked or deleted: the backups are still needed; so do
    /// backups of files the agent no longer lists, and a `run` on the same folder (a service
    /// would write again under it). So does a server that cannot be told, unless `force`.
    ///
    /// # Errors
    /// [`AgentError::Config`] while a `run` holds the folder, or with no device key to sign
    /// with (without `force`); [`AgentError::Server`] when the server could not be told
    /// (without `force`) or refused; [`AgentError::State`] when the folder could not be read
    /// or deleted.
    pub fn remove(&self, force: bool) -> Result<Removal, AgentError> {
        let Some(running) = self.state.hold_run()? else {
            return Err(AgentError::Config(running_elsewhere(&self.state)));
        };
        // Held to the end: a one-shot `sync` must not write again between the restore and
        // the delete (the backups would go with files still changed).
        let writes = self.state.hold_writes()?;
        let problems = self.restore_held()?;
        if !problems.is_empty() {
            return Ok(Removal::NotRestored(problems));
        }
        let orphans = self.state.backups_kept();
        if orphans > 0 {
            return Ok(Removal::NotRestored(vec![format!(
                "{orphans} backups in {} belong to no file the agent lists (its list of files \
                 was lost or replaced): they may be someone's only copy; look at them, then \
                 delete the folder by hand",
                self.state.root().display()
            )]));
        }
        let leaving = match self.state.identity()? {
            None => Leaving::NotEnrolled,
            Some(identity) => match self.state.existing_device_key()? {
                None if force => Leaving::NotTold("the device key is missing".into()),
                None => {
                    return Err(AgentError::Config(
                        "this machine's device key is missing from the state folder, so the \
                         server cannot be told it leaves: `remove --force` deletes the state \
                         anyway (an operator then revokes the machine)"
                            .into(),
                    ))
                }
                Some(key) => {
                    let told = Server::new(&identity.server)
                        .map_err(|reason| {
                            ClientError::Malformed(format!("the server's URL: {reason}"))
                        })
                        .and_then(|server| server.leave(identity.device_id, &key));
                    match told {
                        Ok(()) => Leaving::Left,
                        Err(ClientError::Refused { code, .. }) if code == "device_revoked" => {
                            Leaving::AlreadyRevoked
                        }
                        Err(error) if force => Leaving::NotTold(error.to_string()),
                        Err(error) => return Err(error.into()),
                    }
                }
            },
        };
        let _writing = hold_writes();
        let left = self
            .state
            .delete([running].into_iter().chain(writes).collect())?;
        Ok(Removal::Removed { leaving, left })
    }
}

/// What the server heard of a `remove`.
#[derive(Debug)]
pub enum Leaving {
    /// The machine was not enrolled: nothing to revoke.
    NotEnrolled,
    /// The server revoked the machine at its request.
    Left,
    /// The server had revoked it already.
    AlreadyRevoked,
    /// The server could not be told, for the reason given (`force` went on without it): the
    /// machine stays listed there, with a key nobody holds any more, until an operator
    /// revokes it.
    NotTold(String),
}

/// What `remove` did.
#[derive(Debug)]
pub enum Removal {
    /// Some files could not be given back: nothing was revoked or deleted, and the backups
    /// are kept for the next try.
    NotRestored(Vec<String>),
    /// Every file given back and the state folder deleted.
    Removed {
        /// What the server heard.
        leaving: Leaving,
        /// What was in the state folder that is not the agent's and stayed, with the folder.
        left: Vec<std::path::PathBuf>,
    },
}

/// Why `run` or `remove` stops when another `run` holds the state folder.
fn running_elsewhere(state: &StateDir) -> String {
    format!(
        "the agent is running on {} (its service, or `switchyard-agent run`): stop it first \
         (`switchyard-agent service uninstall`)",
        state.root().display()
    )
}

/// What `run` says when the server answered before the wait was over with nothing new and
/// the next round is put off by `pause`.
pub fn early_line(pause: std::time::Duration) -> String {
    format!(
        "the server answered at once with nothing new (is a proxy in between dropping If-None-Match or answering for the server?); next round in {}s",
        pause.as_secs()
    )
}

/// Sleeps for `pause` in short steps, returning early once `stop` is set.
pub fn sleep_unless_stopped(pause: std::time::Duration, stop: &std::sync::atomic::AtomicBool) {
    let until = std::time::Instant::now() + pause;
    while std::time::Instant::now() < until && !stop.load(std::sync::atomic::Ordering::Relaxed) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Adds `text` to what an outcome says.
fn note(outcome: &mut Outcome, text: String) {
    outcome.message = Some(match outcome.message.take() {
        Some(before) => format!("{before}; {text}"),
        None => text,
    });
}

/// Text for a report, cut to what a report field holds.
fn fact(text: &str) -> Option<MachineFact> {
    MachineFact::parse(text.chars().take(256).collect::<String>()).ok()
}

/// A target state's name in reports.
pub fn state_name(state: TargetState) -> &'static str {
    match state {
        TargetState::Ok => "ok",
        TargetState::Unchanged => "unchanged",
        TargetState::Shadowed => "shadowed",
        TargetState::Failed => "failed",
        TargetState::Restored => "restored",
    }
}

fn target_status(outcome: &Outcome) -> Option<TargetStatus> {
    Some(TargetStatus {
        target: fact(outcome.target.name())?,
        state: outcome.state,
        message: outcome.message.as_deref().and_then(fact),
    })
}

/// A time as the API writes it (RFC 3339).
fn rfc3339(at: time::OffsetDateTime) -> serde_json::Value {
    at.format(&time::format_description::well_known::Rfc3339)
        .map_or(serde_json::Value::Null, serde_json::Value::String)
}

/// The state files' view for `status`: where the machine is enrolled, what it applied and
/// when (RFC 3339), whether `restore` took it back since, and each target's state.
pub fn summary(state: &StateDir) -> Result<BTreeMap<&'static str, serde_json::Value>, AgentError> {
    use serde_json::json;
    let identity = state.identity()?.ok_or(AgentError::NotEnrolled)?;
    let applied = state.applied()?;
    let now = now();
    let mut out = BTreeMap::new();
    out.insert("server", json!(identity.server));
    out.insert("device_id", json!(identity.device_id));
    out.insert(
        "environment",
        json!(applied
            .as_ref()
            .map_or(&identity.environment, |a| &a.environment)),
    );
    out.insert(
        "machine_role",
        json!(applied
            .as_ref()
            .map_or(&identity.machine_role, |a| &a.machine_role)),
    );
    if let Some(applied) = applied {
        out.insert("sequence", json!(applied.sequence));
        out.insert("baseline_version", json!(applied.baseline_version));
        out.insert("overlay_version", json!(applied.overlay_version));
        out.insert("applied_at", rfc3339(applied.applied_at));
        out.insert("last_contact", rfc3339(applied.last_contact));
        out.insert(
            "last_contact_age_secs",
            json!((now - applied.last_contact).whole_seconds()),
        );
        out.insert("expires_at", rfc3339(applied.expires_at));
        out.insert("expired", json!(applied.expires_at <= now));
        if let Some(restored_at) = applied.restored_at {
            out.insert("restored_at", rfc3339(restored_at));
        }
        out.insert(
            "targets",
            json!(applied
                .targets
                .iter()
                .map(|(target, state, message)| json!({"target": target, "state": state, "message": message}))
                .collect::<Vec<_>>()),
        );
    }
    if let Some(probed) = state.probed().ok().flatten() {
        out.insert("probed_at", rfc3339(probed.at));
        out.insert("probes", json!(probed.probes));
    }
    if let Some(mirrors) = state.mirrors().ok().flatten() {
        if !mirrors.choices.is_empty() {
            out.insert("mirrors", json!(mirrors.report()));
        }
    }
    Ok(out)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn without_user_variables_the_user_comes_from_the_system() {
        // The process's own user, from /etc/passwd: what `id -un` says.
        let expected = std::process::Command::new("id")
            .arg("-un")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap();
        assert_eq!(user_of_this_process().as_deref(), Some(expected.as_str()));
    }
}
