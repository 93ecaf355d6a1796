//! The cost of a publish, audit trail included, beside an authenticated read of the same
//! draft on the same server in the same run.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};

use crate::admin::{profile, Admin};

/// What `workers` operators, each publishing to an environment of their own, manage.
#[derive(Debug)]
pub struct PublishRates {
    /// Publish requests per second, all workers together.
    pub publishes_per_second: f64,
    /// The same workers reading the draft, per second.
    pub reads_per_second: f64,
}

/// Each worker saves and publishes `each` versions; the publish requests alone are timed.
/// Then each reads its draft `each` times.
pub async fn measure(admin: &Admin, workers: usize, each: usize) -> Result<PublishRates, String> {
    let prefix = format!("pub-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let role = format!("{prefix}-role");
    admin.set_up(&format!("{prefix}-0"), &role).await?;
    for worker in 1..workers {
        admin
            .call(
                Method::POST,
                "/api/v1/environments",
                Some(serde_json::json!({"name": format!("{prefix}-{worker}"), "protected": false})),
                None,
                StatusCode::CREATED,
            )
            .await?;
    }
    let publishing = (0..workers).map(|worker| {
        let environment = format!("{prefix}-{worker}");
        async move {
            let mut spent = Duration::ZERO;
            for n in 0..each {
                let revision = admin.save_draft(&environment, &profile(n as u64)).await?;
                let started = Instant::now();
                admin.publish(&environment, revision).await?;
                spent += started.elapsed();
            }
            Ok::<_, String>(spent)
        }
    });
    let publishes_per_second = summed_rate(each, publishing).await?;
    let reading = (0..workers).map(|worker| {
        let path = format!("/api/v1/environments/{prefix}-{worker}/profiles/baseline/draft");
        async move {
            let started = Instant::now();
            for _ in 0..each {
                admin
                    .call(Method::GET, &path, None, None, StatusCode::OK)
                    .await?;
            }
            Ok::<_, String>(started.elapsed())
        }
    });
    Ok(PublishRates {
        publishes_per_second,
        reads_per_second: summed_rate(each, reading).await?,
    })
}

/// Runs `workers` side by side, each doing `each` operations and returning the time they
/// took; the rate is what each achieved, summed.
async fn summed_rate(
    each: usize,
    workers: impl Iterator<Item = impl std::future::Future<Output = Result<Duration, String>>>,
) -> Result<f64, String> {
    let spent = join_all(workers)
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    Ok(spent
        .iter()
        .map(|time| each as f64 / time.as_secs_f64())
        .sum())
}
