//! Compaction and retention: small files of a table are merged into one sorted file with superseded versions
//! dropped; rows past the magnetic-store retention are deleted.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::compute::{
    SortColumn, SortOptions, concat_batches, filter_record_batch, lexsort_to_indices,
    take_record_batch,
};
use arrow::datatypes::SchemaRef;
use freshet_meta::FileRecord;

use crate::schema::{MEASURE_NAME_COLUMN, TIME_COLUMN};
use crate::{Result, Storage, TableState, files, lock};

/// Merge once a table has this many files of level 0.
pub const MIN_FILES_TO_COMPACT: usize = 4;

/// Sorts a batch by dimensions (in [`crate::TableSchema::sort_dimensions`] order, the lead dimension's nulls last),
/// measure name and time: the order of data files.
pub fn sort_rows(
    batch: &RecordBatch,
    schema: &SchemaRef,
    table_schema: &crate::TableSchema,
) -> Result<RecordBatch> {
    let lead = table_schema.lead_dimension();
    let mut keys: Vec<SortColumn> = table_schema
        .sort_dimensions()
        .into_iter()
        .filter_map(|d| Some((d, schema.index_of(d).ok()?)))
        .map(|(d, i)| SortColumn {
            values: Arc::clone(batch.column(i)),
            options: (Some(d) == lead).then_some(SortOptions {
                descending: false,
                nulls_first: false,
            }),
        })
        .collect();
    for name in [MEASURE_NAME_COLUMN, TIME_COLUMN] {
        if let Ok(i) = schema.index_of(name) {
            keys.push(SortColumn {
                values: Arc::clone(batch.column(i)),
                options: None,
            });
        }
    }
    let indices = lexsort_to_indices(&keys, None)?;
    Ok(take_record_batch(batch, &indices)?)
}

impl Storage {
    /// Applies retention (dropping rows older than `cutoff_ns`) and merges small files of one table.
    pub(crate) async fn compact_table(
        &self,
        state: &Arc<Mutex<TableState>>,
        cutoff_ns: i64,
    ) -> Result<()> {
        let (table_id, picked, schema, table_schema, generation) = {
            let st = lock(state);
            let level0 = st.files.iter().filter(|f| f.level == 0).count();
            let expired = st.files.iter().any(|f| f.min_time < cutoff_ns);
            if level0 < MIN_FILES_TO_COMPACT && !expired {
                return Ok(());
            }
            let picked: Vec<FileRecord> = if level0 >= MIN_FILES_TO_COMPACT {
                st.files
                    .iter()
                    .filter(|f| f.level == 0 || f.min_time < cutoff_ns)
                    .cloned()
                    .collect()
            } else {
                st.files
                    .iter()
                    .filter(|f| f.min_time < cutoff_ns)
                    .cloned()
                    .collect()
            };
            (
                st.id.clone(),
                picked,
                st.schema.arrow_schema(),
                st.schema.clone(),
                st.files_generation,
            )
        };

        let mut batches = Vec::new();
        for f in picked.iter().filter(|f| f.max_time >= cutoff_ns) {
            for b in files::read(&self.inner.objects, &f.path).await? {
                batches.push(files::adapt(&b, &schema)?);
            }
        }
        let merged = if batches.is_empty() {
            None
        } else {
            let resolved = files::resolve_versions(&table_schema, batches)?;
            let all = concat_batches(&schema, &resolved)?;
            let times = files::times(&all)?;
            let keep = arrow::compute::kernels::cmp::gt_eq(
                times,
                &arrow::array::TimestampNanosecondArray::new_scalar(cutoff_ns),
            )?;
            let kept = filter_record_batch(&all, &keep)?;
            (kept.num_rows() > 0)
                .then(|| sort_rows(&kept, &schema, &table_schema))
                .transpose()?
        };
        let level = picked.iter().map(|f| f.level).max().unwrap_or(0) + 1;
        let new_file = match &merged {
            Some(batch) => {
                // Merging resolves versions among the picked files, not against files left out.
                let shadows = picked.iter().any(|f| f.shadows);
                Some(
                    files::write(
                        &self.inner.objects,
                        &table_id,
                        batch,
                        level,
                        shadows,
                        table_schema.dimensions(),
                        table_schema.lead_dimension(),
                    )
                    .await?,
                )
            }
            None => None,
        };
        let removed: Vec<String> = picked.iter().map(|f| f.id.clone()).collect();

        let changed = lock(state).files_generation != generation;
        if changed {
            // A persist or another change came in between; try again on the next tick.
            if let Some(f) = &new_file {
                files::delete(&self.inner.objects, &f.path).await?;
            }
            return Ok(());
        }
        self.inner
            .meta
            .replace_files(&table_id, new_file.as_slice(), &removed)
            .await?;
        {
            let mut st = lock(state);
            st.files.retain(|f| !removed.contains(&f.id));
            st.files.extend(new_file);
            st.files.sort_by_key(|f| (f.min_time, f.id.clone()));
            st.files_generation += 1;
        }
        let due = Instant::now() + self.inner.config.replaced_file_grace;
        lock(&self.inner.garbage).extend(picked.into_iter().map(|f| (due, f.path)));
        Ok(())
    }

    /// Deletes replaced files whose grace period is over.
    pub(crate) async fn collect_garbage(&self) -> Result<()> {
        let now = Instant::now();
        let due: Vec<String> = {
            let mut g = lock(&self.inner.garbage);
            let (due, keep): (Vec<_>, Vec<_>) = g.drain(..).partition(|(t, _)| *t <= now);
            *g = keep;
            due.into_iter().map(|(_, p)| p).collect()
        };
        for path in due {
            files::delete(&self.inner.objects, &path).await?;
        }
        Ok(())
    }
}
