//! The folders on disk: the plan, applying it (journaled), undoing, the journal.

use crate::dto::ApplyRequest;
use crate::error::ApiResult;
use crate::server::{Shared, notify, with_db};
use anyhow::Result;
use axum::extract::{Query, State};
use axum::response::Json;
use reelmap_core::apply::{self, ApplyReport, BatchInfo, Mode, UndoReport};
use reelmap_core::plan::{self, Plan};
use reelmap_core::store::Catalogue;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Deserialize)]
pub struct ApplyQuery {
    target: Option<String>,
}

/// The plan of every scanned folder, into `target` or each folder itself.
fn plans(cat: &Catalogue, target: Option<&str>) -> Result<Vec<Plan>> {
    cat.roots()?
        .into_iter()
        .map(|(_, r)| {
            let base = target.map(PathBuf::from).unwrap_or_else(|| r.clone());
            plan::plan(cat, Some(&r), &base)
        })
        .collect()
}

pub async fn apply_plan(
    State(st): State<Shared>,
    Query(q): Query<ApplyQuery>,
) -> ApiResult<Json<Vec<Plan>>> {
    let out = with_db(&st, move |cat| plans(cat, q.target.as_deref())).await?;
    Ok(Json(out))
}

pub async fn apply_folders(
    State(st): State<Shared>,
    Json(req): Json<ApplyRequest>,
) -> ApiResult<Json<Vec<ApplyReport>>> {
    let out = with_db(&st, move |cat| {
        let mode = req.mode.unwrap_or(Mode::Move);
        // One batch for all folders, so that one undo restores everything.
        let all = plans(cat, req.target.as_deref())?;
        let base = match (&req.target, all.first()) {
            (Some(t), _) => PathBuf::from(t),
            (None, Some(p)) => p.base.clone(),
            (None, None) => return Ok(vec![]),
        };
        let plan = plan::merge_plans(all, &base);
        Ok(vec![apply::apply(cat, &plan, mode)?])
    })
    .await?;
    notify(&st, "apply");
    Ok(Json(out))
}

pub async fn apply_undo(State(st): State<Shared>) -> ApiResult<Json<Option<UndoReport>>> {
    let out = with_db(&st, apply::undo_last).await?;
    notify(&st, "apply_undo");
    Ok(Json(out))
}

pub async fn journal(State(st): State<Shared>) -> ApiResult<Json<Vec<BatchInfo>>> {
    let out = with_db(&st, |cat| apply::batches(cat)).await?;
    Ok(Json(out))
}
