//! The wallet's inbox: what other devices and browsers did to the account, for every other
//! device to see at once, with the one-tap answer that undoes it.
//!
//! A notice is read from the audit trail (the account's events, sealed at rest), so nothing is
//! stored twice and nothing can be done to the account without its devices hearing of it: a
//! new authenticator (a passkey or a linked phone), a device removed or suspended, a browser
//! signed in to eid, a recovery. Events a device caused itself are not news to it. The cursor
//! is a time: a notice is answered once its second is over, so a poll neither repeats nor
//! misses one.

use eid_proto::api::{Inbox, Notice, NoticeUndo};

use crate::account::JoinedBy;
use crate::audit::AuditEntry;
use crate::store::WalletSessionRecord;
use crate::time::UnixTime;
use crate::{Error, Provider};

/// How many of the account's latest events an inbox reads.
const READ: usize = 200;

impl Provider {
    /// The notices for the device of `session` after `after` (Unix seconds), oldest first.
    pub fn inbox(
        &self,
        session: &WalletSessionRecord,
        after: i64,
        now: UnixTime,
    ) -> Result<Inbox, Error> {
        // Whole seconds only: an event of the current second may still be written.
        let until = now.secs() - 1;
        let devices = self.store.devices(&session.citizen_id)?;
        // A device hears of what happened after it joined: from its own binding on, in the
        // second it joined (what came before was the citizen's own doing with this phone).
        let joined = devices
            .iter()
            .find(|d| d.device_id == session.device_id)
            .map_or(0, |d| d.created_at.secs());
        let after = after.max(joined - 1);
        let mut bound_yet = after >= joined;
        let held: Vec<String> = self
            .store
            .held_applications(&session.citizen_id)?
            .into_iter()
            .map(|a| a.application_id)
            .collect();
        let mut notices = Vec::new();
        let events = self.store.account_events(&session.citizen_id, READ)?;
        for record in events.into_iter().rev() {
            let at = record.at.secs();
            if at <= after || at > until {
                continue;
            }
            let entry = self.open_entry(record)?;
            let me = session.device_id.as_str();
            if !bound_yet {
                // Events of the joining second, up to and including this device's binding.
                bound_yet =
                    entry.action == "device.bound" && entry.device_id.as_deref() == Some(me);
                if bound_yet || at == joined {
                    continue;
                }
            }
            let by_me = entry.actor_id.as_deref() == Some(me);
            let about_me = entry.device_id.as_deref() == Some(me);
            if by_me {
                continue;
            }
            if let Some(notice) = notice_of(&entry, about_me, &devices, &held) {
                notices.push(notice);
            }
        }
        Ok(Inbox {
            notices,
            cursor: until.max(after),
        })
    }
}

/// The notice an event makes, if it is news to another device.
fn notice_of(
    entry: &AuditEntry,
    about_me: bool,
    devices: &[crate::store::DeviceRecord],
    held: &[String],
) -> Option<Notice> {
    let name = entry.detail.device_name.as_deref().unwrap_or("a device");
    let still_bound = entry
        .device_id
        .as_deref()
        .and_then(|id| devices.iter().find(|d| d.device_id == id));
    let (kind, en, zh_hant, undo) = match entry.action.as_str() {
        "device.bound" if !about_me => {
            let passkey = still_bound.is_some_and(|d| d.joined_by == JoinedBy::Browser);
            let (what_en, what_zh) = if passkey {
                ("A passkey in a browser", "瀏覽器密碼匙")
            } else {
                ("A phone", "手機")
            };
            (
                "authenticator_added",
                format!("{what_en} named \"{name}\" was added to your eid account. If it was not you, remove it now."),
                format!("您的 eid 帳戶已加入{what_zh}「{name}」。如非本人所為，請立即移除。"),
                still_bound.map(|d| NoticeUndo::RemoveDevice {
                    device_id: d.device_id.clone().into_string(),
                }),
            )
        }
        "device.removed" => (
            "device_removed",
            format!("The device \"{name}\" was removed from your eid account."),
            format!("裝置「{name}」已從您的 eid 帳戶移除。"),
            None,
        ),
        "device.suspected_clone" => (
            "device_suspended",
            format!("The device \"{name}\" was suspended: its key may have been copied. Remove it if you still have it."),
            format!("裝置「{name}」已暫停：其密碼匙或已被複製。"),
            still_bound.map(|d| NoticeUndo::RemoveDevice {
                device_id: d.device_id.clone().into_string(),
            }),
        ),
        "login.approved" if entry.detail.reason.as_deref() == Some("signed_in") => {
            let browser = entry.detail.browser.as_deref().unwrap_or("a browser");
            (
                "browser_signed_in",
                format!("{browser} was signed in to your eid account: it logs you in to services you use without your phone. If it is not yours, sign it out."),
                format!("{browser} 已登入您的 eid 帳戶，可毋須手機為您登入常用服務。如非您的瀏覽器，請將其登出。"),
                entry
                    .detail
                    .session_id
                    .clone()
                    .map(|session_id| NoticeUndo::EndSession { session_id }),
            )
        }
        "recovery.held" => {
            let when = entry
                .detail
                .until
                .map(|t| crate::time::UnixTime::from_secs(t).to_utc_minutes());
            let (until, zh_until) = match &when {
                Some(when) => (format!(" on {when}"), format!("於 {when} ")),
                None => (String::new(), String::new()),
            };
            let still_held = entry
                .application_id
                .as_deref()
                .filter(|id| held.iter().any(|h| h == id));
            (
                "recovery_pending",
                format!("Someone proved themselves as you on a new phone named \"{name}\" and will take over your eid account{until}: every device you have now will then be signed out. If it is not you, cancel it now."),
                format!("有人以您的身份在名為「{name}」的新手機上完成身份核實，並將{zh_until}接管您的 eid 帳戶，屆時您現有的所有裝置均會被登出。如非本人所為，請立即取消。"),
                still_held.map(|id| NoticeUndo::CancelRecovery {
                    application_id: id.to_owned(),
                }),
            )
        }
        "recovery.cancelled" => (
            "recovery_cancelled",
            format!("A recovery of your eid account on another phone was cancelled from \"{name}\"."),
            format!("裝置「{name}」已取消在另一部手機上恢復您 eid 帳戶的要求。"),
            None,
        ),
        "account.recovered" => (
            "account_recovered",
            "Your eid account was recovered on another phone by identity proofing.".to_owned(),
            "您的 eid 帳戶已經身份核實在另一部手機上恢復。".to_owned(),
            None,
        ),
        _ => return None,
    };
    Some(Notice {
        id: entry.event_id.clone(),
        at: entry.at.secs(),
        kind: kind.to_owned(),
        en,
        zh_hant,
        undo,
    })
}
