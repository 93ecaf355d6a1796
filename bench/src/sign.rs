//! Requests signed ahead of time, for `wrk`: one enrolled machine's profile fetch, each with a
//! nonce of its own (the server refuses a nonce it has seen), written one per line.

use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use crate::admin::Admin;
use crate::agents::Fleet;

/// The path `wrk` asks for: the profile at once, without waiting.
pub const FETCH_PATH: &str = "/api/v1/agent/profile?wait=0";

/// Enrolls one machine at `server`, then writes into `folder`: `headers` (`count` signed
/// `Authorization` values for [`FETCH_PATH`]), `etag` (what it holds) and `envelope.json`
/// (the body of a 200, for the reference server).
pub async fn prepare(
    server: &str,
    admin: &Admin,
    count: usize,
    folder: &Path,
) -> Result<(), String> {
    let (_, token) = admin.new_fleet("fetch", 1).await?;
    let fleet = Fleet::enroll(&[server.to_owned()], &token, 1, 1).await?;
    let (etag, body) = fleet.current(0).await?;
    std::fs::create_dir_all(folder).map_err(|e| e.to_string())?;
    std::fs::write(folder.join("etag"), &etag).map_err(|e| e.to_string())?;
    std::fs::write(folder.join("envelope.json"), &body).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let file = std::fs::File::create(folder.join("headers")).map_err(|e| e.to_string())?;
    let mut out = std::io::BufWriter::new(file);
    for _ in 0..count {
        writeln!(out, "{}", fleet.authorization(0, FETCH_PATH)).map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())?;
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "signed {count} requests in {:.1} s; envelope {} bytes",
            started.elapsed().as_secs_f64(),
            body.len()
        );
    }
    Ok(())
}
