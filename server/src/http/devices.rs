//! The fleet: what machines report, what ops see of them, and moving or revoking them.

use std::collections::BTreeMap;

use actix_web::{get, post, put, web, HttpResponse};
use switchyard_proto::devices::{
    DeviceMove, DeviceStatus, MirrorHealth, StatusReport, VersionGroup, VersionSpread,
};
use switchyard_proto::rollouts::{Labels, LabelsChange};
use switchyard_proto::{AuditAction, ErrorBody, FieldProblem};
use uuid::Uuid;

use super::capability::{DeviceCaller, DeviceJson};
use super::capability::{OperateEnvironment, ReadEnvironment};
use super::error::ApiError;
use super::json::ApiJson;
use super::origin::RequestOrigin;
use super::AppState;
use crate::domain::devices::{DeviceRecord, ReportRecord};
use crate::domain::health;
use crate::domain::profiles::ProfileTarget;

/// Most targets one report may list.
const MOST_TARGETS: usize = 32;
/// Most drift findings one report may list.
const MOST_DRIFT: usize = 64;

/// Most endpoint probes one report may carry (what the agent probes for one profile).
const MOST_PROBES: usize = 64;
/// Most mirrors with fallbacks in one report.
const MOST_MIRRORS: usize = 16;

/// A machine says what it applied and how it went.
#[utoipa::path(
    tag = "agent",
    request_body = StatusReport,
    responses(
        (status = 204, description = "Kept"),
        (status = 401, description = "Not a validly signed request of an enrolled machine, or a revoked one", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    ),
    security(("device" = [])),
    extensions(("x-roles" = json!(["enrolled device"])))
)]
#[post("/agent/status")]
pub async fn report_status(
    state: web::Data<AppState>,
    DeviceJson(caller, report): DeviceJson<StatusReport>,
) -> Result<HttpResponse, ApiError> {
    let problems: Vec<FieldProblem> = [
        ("targets", report.targets.len(), MOST_TARGETS, "targets"),
        ("drift", report.drift.len(), MOST_DRIFT, "findings"),
        ("probes", report.probes.len(), MOST_PROBES, "probes"),
        ("mirrors", report.mirrors.len(), MOST_MIRRORS, "mirrors"),
    ]
    .into_iter()
    .filter(|(_, len, most, _)| len > most)
    .map(|(path, _, most, what)| FieldProblem {
        path: path.into(),
        message: format!("lists at most {most} {what}"),
    })
    .chain(
        report
            .mirror_problems()
            .into_iter()
            .map(|(i, message)| FieldProblem {
                path: format!("mirrors[{i}]"),
                message,
            }),
    )
    .collect();
    if !problems.is_empty() {
        return Err(ApiError::Invalid(problems));
    }
    let witnessed = match &report.audit_head {
        Some(signed) => Some(caller.open_audit_head(signed).await?),
        None => None,
    };
    let record = ReportRecord {
        witnessed,
        report: serde_json::to_string(&report).unwrap_or_default(),
        reported_at: state.clock.now(),
        sequence: report.sequence,
        baseline_version: report.baseline_version,
        overlay_version: report.overlay_version,
        healthy: report.healthy(),
    };
    caller.report(&record).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A machine leaves: it revokes its own enrollment, as `switchyard-agent remove` does after
/// giving back every file it wrote (and an uninstall with it). Audited as `device.revoke` by
/// the machine itself. Its requests get 401 `device_revoked` from then on; a machine already
/// revoked gets that answer here too.
#[utoipa::path(
    tag = "agent",
    responses(
        (status = 204, description = "Revoked: the machine is listed as revoked and must enroll again"),
        (status = 401, description = "Not a validly signed request of an enrolled machine, or a revoked one", body = ErrorBody),
    ),
    security(("device" = [])),
    extensions(("x-roles" = json!(["enrolled device"])))
)]
#[post("/agent/leave")]
pub async fn leave(
    state: web::Data<AppState>,
    caller: DeviceCaller,
    from: RequestOrigin,
) -> Result<HttpResponse, ApiError> {
    let device = caller.device();
    let now = state.clock.now();
    let audit = from
        .by_device(device.id)
        .record(
            AuditAction::DeviceRevoke,
            format!("device:{}", device.id),
            now,
        )
        .in_environment(device.environment.as_str())
        .for_role(Some(device.machine_role.as_str()))
        .with_detail("hostname", device.hostname.as_str())
        .with_detail("reason", "the machine left (switchyard-agent remove)");
    caller.leave(now, &audit).await?;
    tracing::info!(device = %device.id, hostname = %device.hostname, "machine left");
    Ok(HttpResponse::NoContent().finish())
}

/// A machine as the API and the console show it: its record and its last report.
pub(crate) fn status(device: &DeviceRecord) -> DeviceStatus {
    let report = device.last_report.as_ref();
    DeviceStatus {
        device: device.to_wire(),
        report: report.and_then(|record| serde_json::from_str(&record.report).ok()),
        reported_at: report.map(|record| record.reported_at),
        healthy: report.map(|record| record.healthy),
    }
}

/// The machines enrolled in the environment, with what they last reported.
#[utoipa::path(
    tag = "devices",
    params(("environment" = String, Path, description = "Environment name")),
    responses(
        (status = 200, description = "Machines, by host name", body = [DeviceStatus]),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "No role on this environment", body = ErrorBody),
        (status = 404, description = "No such environment", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "auditor", "ops on the environment", "developer on the environment"])))
)]
#[get("/environments/{environment}/devices")]
pub async fn list_devices(reader: ReadEnvironment) -> Result<HttpResponse, ApiError> {
    let devices: Vec<DeviceStatus> = reader
        .devices()
        .devices()
        .await?
        .iter()
        .map(status)
        .collect();
    Ok(HttpResponse::Ok().json(devices))
}

/// How the machines reach the endpoints their profiles name: per endpoint and machine role, how
/// many machines probed it in their latest report, how many reach it, how the others failed,
/// and how long answers took.
#[utoipa::path(
    tag = "devices",
    params(("environment" = String, Path, description = "Environment name")),
    responses(
        (status = 200, description = "Endpoints per machine role, by endpoint", body = MirrorHealth),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "No role on this environment", body = ErrorBody),
        (status = 404, description = "No such environment", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "auditor", "ops on the environment", "developer on the environment"])))
)]
#[get("/environments/{environment}/mirror-health")]
pub async fn mirror_health(reader: ReadEnvironment) -> Result<HttpResponse, ApiError> {
    let devices = reader.devices().devices().await?;
    Ok(HttpResponse::Ok().json(health_of(&reader, &devices)))
}

/// The endpoints' health as `devices` last reported it, for the API and the console.
pub(crate) fn health_of(reader: &ReadEnvironment, devices: &[DeviceRecord]) -> MirrorHealth {
    MirrorHealth {
        environment: reader.environment().to_string(),
        endpoints: health::mirror_health(devices),
    }
}

/// How far published versions have spread: per machine role, how many machines (still
/// enrolled) run which versions, and how many of them are healthy.
#[utoipa::path(
    tag = "devices",
    params(("environment" = String, Path, description = "Environment name")),
    responses(
        (status = 200, description = "Machines per role and applied versions", body = VersionSpread),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "No role on this environment", body = ErrorBody),
        (status = 404, description = "No such environment", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "auditor", "ops on the environment", "developer on the environment"])))
)]
#[get("/environments/{environment}/rollout")]
pub async fn rollout(reader: ReadEnvironment) -> Result<HttpResponse, ApiError> {
    let devices = reader.devices().devices().await?;
    Ok(HttpResponse::Ok().json(spread_of(&reader, &devices).await?))
}

/// How far published versions have spread over `devices`, for the API and the console.
///
/// # Errors
/// Store errors.
pub(crate) async fn spread_of(
    reader: &ReadEnvironment,
    devices: &[DeviceRecord],
) -> Result<VersionSpread, ApiError> {
    let latest = reader
        .profiles()
        .latest_version(&ProfileTarget::Baseline)
        .await?;
    // (role, baseline applied, overlay applied) -> (machines, healthy machines)
    type Applied = (String, Option<u64>, Option<u64>);
    let mut groups: BTreeMap<Applied, (u64, u64)> = BTreeMap::new();
    for device in devices {
        if device.revoked_at.is_some() {
            continue;
        }
        let report = device.last_report.as_ref();
        let key = (
            device.machine_role.to_string(),
            report.map(|r| r.baseline_version),
            report.map(|r| r.overlay_version),
        );
        let (devices, healthy) = groups.entry(key).or_default();
        *devices += 1;
        *healthy += u64::from(report.is_some_and(|r| r.healthy));
    }
    Ok(VersionSpread {
        environment: reader.environment().to_string(),
        latest_baseline_version: latest,
        groups: groups
            .into_iter()
            .map(
                |((machine_role, baseline_version, overlay_version), (devices, healthy))| {
                    VersionGroup {
                        machine_role,
                        baseline_version,
                        overlay_version,
                        devices,
                        healthy,
                    }
                },
            )
            .collect(),
    })
}

fn device_id(text: &str) -> Result<Uuid, ApiError> {
    ApiError::parameter("id", Uuid::parse_str(text))
}

/// Revokes a machine: its requests get 401 from now on, and it must enroll again.
#[utoipa::path(
    tag = "devices",
    params(
        ("environment" = String, Path, description = "Environment name"),
        ("id" = Uuid, Path, description = "Device id"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not ops on this environment", body = ErrorBody),
        (status = 404, description = "No such machine in this environment", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "ops on the environment"])))
)]
#[post("/environments/{environment}/devices/{id}/revoke")]
pub async fn revoke_device(
    operator: OperateEnvironment,
    state: web::Data<AppState>,
    from: RequestOrigin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    revoke(&operator, &from, device_id(&path.1)?, state.clock.now()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Revokes machine `id`, audited: for the API and the console.
///
/// # Errors
/// [`ApiError::DeviceNotFound`] for a machine not in the operator's environment, store errors.
pub(crate) async fn revoke(
    operator: &OperateEnvironment,
    from: &RequestOrigin,
    id: Uuid,
    now: time::OffsetDateTime,
) -> Result<(), ApiError> {
    let devices = operator.devices();
    let device = devices.device(id).await?;
    let audit = from
        .record(
            operator.access(),
            AuditAction::DeviceRevoke,
            format!("device:{}", device.id),
            now,
        )
        .in_environment(device.environment.as_str())
        .for_role(Some(device.machine_role.as_str()))
        .with_detail("hostname", device.hostname.as_str());
    devices.revoke_device(device.id, now, &audit).await?;
    tracing::info!(by = %operator.access().user.username, device = %device.id, "machine revoked");
    Ok(())
}

/// Moves a machine to another environment or machine role; it gets that profile at its next
/// fetch. Needs ops on both environments.
#[utoipa::path(
    tag = "devices",
    params(
        ("environment" = String, Path, description = "Environment name"),
        ("id" = Uuid, Path, description = "Device id"),
    ),
    request_body = DeviceMove,
    responses(
        (status = 200, description = "Moved", body = DeviceStatus),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not ops on this environment or on the one moved to", body = ErrorBody),
        (status = 404, description = "No such machine, environment or machine role", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "ops on the environment"])))
)]
#[post("/environments/{environment}/devices/{id}/move")]
pub async fn move_device(
    operator: OperateEnvironment,
    state: web::Data<AppState>,
    from: RequestOrigin,
    path: web::Path<(String, String)>,
    ApiJson(to): ApiJson<DeviceMove>,
) -> Result<HttpResponse, ApiError> {
    let devices = operator.devices();
    let device = devices.device(device_id(&path.1)?).await?;
    let changes = [
        crate::domain::audit::change(
            "environment",
            Some(device.environment.to_string()),
            Some(to.environment.to_string()),
        ),
        crate::domain::audit::change(
            "machine_role",
            Some(device.machine_role.to_string()),
            Some(to.machine_role.to_string()),
        ),
    ];
    let audit = from
        .record(
            operator.access(),
            AuditAction::DeviceMove,
            format!("device:{}", device.id),
            state.clock.now(),
        )
        .in_environment(device.environment.as_str())
        .for_role(Some(device.machine_role.as_str()))
        .with_changes(changes.into_iter().flatten().collect())
        .with_detail("hostname", device.hostname.as_str());
    let moved = devices
        .move_device(device.id, &to.environment, &to.machine_role, &audit)
        .await?;
    Ok(HttpResponse::Ok().json(status(&moved)))
}

/// Replaces a machine's labels (what rollouts choose cohorts by); answers the machine.
#[utoipa::path(
    tag = "devices",
    params(
        ("environment" = String, Path, description = "Environment name"),
        ("id" = Uuid, Path, description = "Device id"),
    ),
    request_body = LabelsChange,
    responses(
        (status = 200, description = "Labelled", body = DeviceStatus),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not ops on this environment", body = ErrorBody),
        (status = 404, description = "No such machine in this environment", body = ErrorBody),
        (status = 422, description = "A label is invalid", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "ops on the environment"])))
)]
#[put("/environments/{environment}/devices/{id}/labels")]
pub async fn set_labels(
    operator: OperateEnvironment,
    state: web::Data<AppState>,
    from: RequestOrigin,
    path: web::Path<(String, String)>,
    ApiJson(change): ApiJson<LabelsChange>,
) -> Result<HttpResponse, ApiError> {
    let devices = operator.devices();
    let device = devices.device(device_id(&path.1)?).await?;
    let shown = |labels: &Labels| serde_json::to_string(labels).ok();
    let audit = from
        .record(
            operator.access(),
            AuditAction::DeviceLabel,
            format!("device:{}", device.id),
            state.clock.now(),
        )
        .in_environment(device.environment.as_str())
        .for_role(Some(device.machine_role.as_str()))
        .with_changes(
            crate::domain::audit::change("labels", shown(&device.labels), shown(&change.labels))
                .into_iter()
                .collect(),
        )
        .with_detail("hostname", device.hostname.as_str());
    let labelled = devices
        .set_labels(device.id, &change.labels, &audit)
        .await?;
    Ok(HttpResponse::Ok().json(status(&labelled)))
}
