//! The calls berth makes on systemd's manager over the system bus (zbus, blocking API):
//! start a transient scope, set its properties, stop it, reset its failed state. A job-
//! creating call returns once systemd reports the job finished (JobRemoved), as runc does.
//! Errors name the call, the unit and systemd's own message.

use std::sync::mpsc;
use std::time::Duration;

use zbus::blocking::{Connection, MessageIterator};
use zbus::zvariant::{OwnedObjectPath, Value};
use zbus::{MatchRule, Message};

use crate::{CgroupError, Result};

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
/// How long a job may take before the call fails (runc: 30 s).
const JOB_PATIENCE: Duration = Duration::from_secs(30);

/// A unit property as the D-Bus API takes it: name and variant value.
pub(crate) type Property = (&'static str, Value<'static>);

pub(crate) struct Systemd {
    conn: Connection,
}

impl Systemd {
    pub(crate) fn connect() -> Result<Self> {
        let conn = Connection::system().map_err(|e| fail("connect to the system bus", "", e))?;
        Ok(Systemd { conn })
    }

    /// StartTransientUnit(unit, "replace", props), waiting for the start job.
    pub(crate) fn start_transient_unit(&self, unit: &str, props: Vec<Property>) -> Result<()> {
        let aux: Vec<(&str, Vec<Property>)> = Vec::new();
        self.job("StartTransientUnit", unit, &(unit, "replace", props, aux))
    }

    /// SetUnitProperties(unit, runtime=true, props): limits of a running unit (`update`).
    pub(crate) fn set_unit_properties(&self, unit: &str, props: Vec<Property>) -> Result<()> {
        self.call("SetUnitProperties", unit, &(unit, true, props))
            .map(drop)
    }

    /// StopUnit then ResetFailedUnit, so that nothing of the unit is left in `systemctl
    /// list-units`; a unit already gone (its processes exited) is no error.
    pub(crate) fn stop_unit(&self, unit: &str) -> Result<()> {
        match self.job("StopUnit", unit, &(unit, "replace")) {
            Err(e) if is_no_such_unit(&e) => {}
            r => r?,
        }
        match self.call("ResetFailedUnit", unit, &(unit,)) {
            Err(e) if is_no_such_unit(&e) || is_not_failed(&e) => Ok(()),
            r => r.map(drop),
        }
    }

    fn call<B>(&self, method: &'static str, unit: &str, body: &B) -> Result<Message>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        self.conn
            .call_method(Some(DEST), PATH, Some(MANAGER), method, body)
            .map_err(|e| fail(method, unit, e))
    }

    /// A call that queues a job: listens for JobRemoved first (the job may finish before the
    /// reply arrives), then waits for the job's result.
    fn job<B>(&self, method: &'static str, unit: &str, body: &B) -> Result<()>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        let removed = self.job_removed(method, unit)?;
        let reply = self.call(method, unit, body)?;
        let job: OwnedObjectPath = reply
            .body()
            .deserialize()
            .map_err(|e| fail(method, unit, e))?;
        loop {
            let (path, result) = removed.recv_timeout(JOB_PATIENCE).map_err(|_| {
                systemd_err(
                    method,
                    unit,
                    format!("job {} did not finish in {JOB_PATIENCE:?}", job.as_str()),
                )
            })?;
            if path == job.as_str() {
                return match result.as_str() {
                    "done" => Ok(()),
                    other => Err(systemd_err(method, unit, format!("job result {other:?}"))),
                };
            }
        }
    }

    /// JobRemoved(id, job, unit, result) signals as (job, result), from a reader thread that
    /// lives as long as the connection.
    fn job_removed(
        &self,
        method: &'static str,
        unit: &str,
    ) -> Result<mpsc::Receiver<(String, String)>> {
        // systemd emits job signals only to subscribed clients.
        self.call("Subscribe", unit, &())?;
        let rule = MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .sender(DEST)
            .and_then(|b| b.path(PATH))
            .and_then(|b| b.interface(MANAGER))
            .and_then(|b| b.member("JobRemoved"))
            .map(|b| b.build())
            .map_err(|e| fail(method, unit, e))?;
        let signals = MessageIterator::for_match_rule(rule, &self.conn, None)
            .map_err(|e| fail(method, unit, e))?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for msg in signals.flatten() {
                if let Ok((_, job, _, result)) = msg
                    .body()
                    .deserialize::<(u32, OwnedObjectPath, String, String)>()
                {
                    if tx.send((job.as_str().to_string(), result)).is_err() {
                        return;
                    }
                }
            }
        });
        Ok(rx)
    }
}

fn is_no_such_unit(e: &CgroupError) -> bool {
    matches!(e, CgroupError::Systemd { message, .. } if message.contains("org.freedesktop.systemd1.NoSuchUnit"))
}

fn is_not_failed(e: &CgroupError) -> bool {
    matches!(e, CgroupError::Systemd { message, .. } if message.contains("not failed"))
}

fn systemd_err(call: &'static str, unit: &str, message: String) -> CgroupError {
    let call = if unit.is_empty() {
        call.to_string()
    } else {
        format!("{call}({unit})")
    };
    CgroupError::Systemd { call, message }
}

/// zbus's error, with systemd's error name and message for a method error.
fn fail(call: &'static str, unit: &str, e: zbus::Error) -> CgroupError {
    let message = match e {
        zbus::Error::MethodError(name, Some(text), _) => format!("{name}: {text}"),
        zbus::Error::MethodError(name, None, _) => name.to_string(),
        other => other.to_string(),
    };
    systemd_err(call, unit, message)
}
