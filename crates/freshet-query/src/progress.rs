//! How far a running query has got, for `QueryStatus` while it runs: the share of its data files read, from the
//! live metrics of the plan's file scans, and the same share of the files' bytes.

use std::sync::{Arc, Mutex, PoisonError};

use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_plan::ExecutionPlan;

/// A running query's progress. Empty until the query's plan is made; read from any thread while it runs.
#[derive(Debug, Default)]
pub struct Progress {
    /// The plan, and the files its scans had read before this run: a kept plan that runs again keeps its scans'
    /// metrics.
    plan: Mutex<Option<(Arc<dyn ExecutionPlan>, usize)>>,
}

/// Where a running query is.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Status {
    /// Data files read, in percent of those the query scans: 0 until it reads one (and for a query without data
    /// files), at most 99 while it runs (what follows the reading, a sort say, takes time too).
    pub percent: f64,
    /// The data files' bytes in the same share: the bytes a query scans are the sizes of the files it reads.
    pub bytes_scanned: u64,
}

/// The share of the work that is left after every data file has been read: a query is done when it has answered.
const MAX_RUNNING_PERCENT: f64 = 99.0;

impl Progress {
    /// Watches `plan`; `ran_before` says that its scans' metrics count earlier runs too (a kept plan run again).
    pub(crate) fn watch(&self, plan: &Arc<dyn ExecutionPlan>, ran_before: bool) {
        let before = if ran_before { files_read(plan).1 } else { 0 };
        *self.plan.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((Arc::clone(plan), before));
    }

    pub fn now(&self) -> Status {
        let plan = self
            .plan
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let Some((plan, before)) = plan else {
            return Status::default();
        };
        let (files, read, bytes) = files_read(&plan);
        let read = read.saturating_sub(before);
        if files == 0 {
            return Status::default();
        }
        let read = read.min(files);
        Status {
            percent: (100.0 * read as f64 / files as f64).min(MAX_RUNNING_PERCENT),
            bytes_scanned: (u128::from(bytes) * read as u128 / files as u128) as u64,
        }
    }
}

/// The data files a plan's scans read, how many of them its scans' metrics count as read, and their bytes.
fn files_read(plan: &Arc<dyn ExecutionPlan>) -> (usize, usize, u64) {
    let (mut files, mut read, mut bytes) = (0usize, 0usize, 0u64);
    let mut nodes = vec![Arc::clone(plan)];
    while let Some(node) = nodes.pop() {
        if let Some(source) = node.downcast_ref::<DataSourceExec>()
            && let Some(scan) = source.data_source().downcast_ref::<FileScanConfig>()
        {
            for file in scan.file_groups.iter().flat_map(|g| g.files()) {
                files += 1;
                bytes += file.object_meta.size;
            }
            if let Some(m) = node.metrics() {
                read += m.sum_by_name("files_processed").map_or(0, |v| v.as_usize());
            }
        }
        nodes.extend(node.children().into_iter().cloned());
    }
    (files, read, bytes)
}
