//! What an operator does in a benchmark, through the real API: log in, make an environment
//! with a role, publish profiles, make an enrollment token.

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

/// A failed step, with what the server said.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {detail}")]
pub struct StepError {
    step: String,
    detail: String,
}

/// The commands report errors as text.
impl From<StepError> for String {
    fn from(error: StepError) -> Self {
        error.to_string()
    }
}

fn failed(step: &str, detail: impl ToString) -> StepError {
    StepError {
        step: step.to_owned(),
        detail: detail.to_string(),
    }
}

/// An operator logged in as `admin`.
#[derive(Debug, Clone)]
pub struct Admin {
    client: Client,
    base: String,
    token: String,
}

impl Admin {
    /// Logs in at `base` (`http://127.0.0.1:PORT`).
    pub async fn login(base: &str, password: &str) -> Result<Self, StepError> {
        let client = Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| failed("client", e))?;
        let answer: Value = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"username": "admin", "password": password}))
            .send()
            .await
            .map_err(|e| failed("log in", e))?
            .json()
            .await
            .map_err(|e| failed("log in", e))?;
        let token = answer["access_token"]
            .as_str()
            .ok_or_else(|| failed("log in", &answer))?
            .to_owned();
        Ok(Self {
            client,
            base: base.to_owned(),
            token,
        })
    }

    /// Sends `body` to `path`; the answer when its status is `expected`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        if_match: Option<String>,
        expected: StatusCode,
    ) -> Result<Value, StepError> {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(tag) = if_match {
            request = request.header("if-match", tag);
        }
        let step = format!("{method} {path}");
        let response = request.send().await.map_err(|e| failed(&step, e))?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        match status == expected {
            true => Ok(answer),
            false => Err(failed(&step, format!("{status}: {answer}"))),
        }
    }

    /// Makes `environment` (not protected) and the machine role `role`.
    pub async fn set_up(&self, environment: &str, role: &str) -> Result<(), StepError> {
        self.call(
            Method::POST,
            "/api/v1/environments",
            Some(json!({"name": environment, "protected": false})),
            None,
            StatusCode::CREATED,
        )
        .await?;
        self.call(
            Method::POST,
            "/api/v1/machine-roles",
            Some(json!({"name": role})),
            None,
            StatusCode::CREATED,
        )
        .await?;
        Ok(())
    }

    /// A new environment named from `prefix` with a machine role, a published baseline and
    /// an enrollment token for `uses` machines: what a benchmark's fleet enrolls with. Returns
    /// the environment and the token.
    pub async fn new_fleet(
        &self,
        prefix: &str,
        uses: usize,
    ) -> Result<(String, String), StepError> {
        let environment = format!(
            "{prefix}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let role = format!("{environment}-role");
        self.set_up(&environment, &role).await?;
        let revision = self.save_draft(&environment, &profile(0)).await?;
        self.publish(&environment, revision).await?;
        let token = self.enrollment_token(&environment, &role, uses).await?;
        Ok((environment, token))
    }

    /// Saves `profile` as the baseline draft of `environment` (ready to publish); returns the
    /// draft's revision.
    pub async fn save_draft(&self, environment: &str, profile: &Value) -> Result<u64, StepError> {
        let path = format!("/api/v1/environments/{environment}/profiles/baseline/draft");
        let draft = self
            .call(Method::GET, &path, None, None, StatusCode::OK)
            .await?;
        let revision = draft["revision"]
            .as_u64()
            .ok_or_else(|| failed("draft", &draft))?;
        self.call(
            Method::PUT,
            &path,
            Some(profile.clone()),
            Some(format!("\"{revision}\"")),
            StatusCode::OK,
        )
        .await?;
        Ok(revision + 1)
    }

    /// Publishes the baseline draft of `environment` at `revision`.
    pub async fn publish(&self, environment: &str, revision: u64) -> Result<(), StepError> {
        self.call(
            Method::POST,
            &format!("/api/v1/environments/{environment}/profiles/baseline/publish"),
            Some(json!({"message": "benchmark", "draft_revision": revision})),
            None,
            StatusCode::CREATED,
        )
        .await
        .map(drop)
    }

    /// An enrollment token for `uses` machines of `role` in `environment`.
    pub async fn enrollment_token(
        &self,
        environment: &str,
        role: &str,
        uses: usize,
    ) -> Result<String, StepError> {
        self.labelled_enrollment_token(environment, role, uses, json!({}))
            .await
    }

    /// An enrollment token for `uses` machines of `role` in `environment`, which gives them
    /// `labels` (a JSON object of names and values).
    pub async fn labelled_enrollment_token(
        &self,
        environment: &str,
        role: &str,
        uses: usize,
        labels: Value,
    ) -> Result<String, StepError> {
        let answer = self
            .call(
                Method::POST,
                &format!("/api/v1/environments/{environment}/enrollment-tokens"),
                Some(json!({"machine_role": role, "max_uses": uses, "labels": labels})),
                None,
                StatusCode::CREATED,
            )
            .await?;
        answer["secret"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| failed("enrollment token", &answer))
    }
}

/// A profile whose Go proxy is numbered `n`, so that each publish changes it.
pub fn profile(n: u64) -> Value {
    json!({
        "go": {"proxy": [{"source": format!("https://goproxy-{n}.corp.example/")}, {"source": "direct"}],
               "private": ["*.corp.example"], "nosumdb": ["*.corp.example"]},
        "npm": {"registry": "https://npm.corp.example/",
                "scopes": {"@corp": "https://npm.corp.example/corp/"}},
        "pip": {"index-url": "https://pypi.corp.example/simple",
                "extra-index-url": ["https://pypi-mirror.corp.example/simple"]},
        "git": {"rewrites": [{"base": "https://git.corp.example/github/", "instead-of": ["https://github.com/"]}]},
        "proxy": {"https": "http://proxy.corp.example:3128", "http": "http://proxy.corp.example:3128",
                  "no-proxy": ["localhost", "127.0.0.1", ".corp.example"]}
    })
}
