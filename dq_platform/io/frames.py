"""pandas <-> Arrow with the warehouse's types: what every layer writes and reads back.

Dates as date32, timestamps in microseconds, text as large_string on the way in; nullable pandas
dtypes on the way out. No Dagster: chunk tasks use it in worker processes.
"""

import pandas as pd
import pyarrow as pa

_TO_PANDAS = {
    pa.int64(): pd.Int64Dtype(),
    pa.int32(): pd.Int64Dtype(),
    pa.float64(): pd.Float64Dtype(),
    pa.string(): pd.StringDtype(),
    pa.large_string(): pd.StringDtype(),
    pa.string_view(): pd.StringDtype(),
    pa.bool_(): pd.BooleanDtype(),
}


def to_arrow(df: pd.DataFrame, date_columns=()) -> pa.Table:
    """pandas -> Arrow with Delta-friendly types: dates as date32, timestamps in microseconds."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    if all(
        f.name not in date_columns
        and not pa.types.is_timestamp(f.type)
        and not pa.types.is_string(f.type)
        and not pa.types.is_string_view(f.type)
        and not pa.types.is_null(f.type)
        for f in table.schema
    ):
        return table.replace_schema_metadata(None)
    fields = []
    for f in table.schema:
        t = f.type
        if f.name in date_columns:
            t = pa.date32()
        elif pa.types.is_timestamp(t):
            t = pa.timestamp("us")
        elif pa.types.is_string(t) or pa.types.is_string_view(t) or pa.types.is_null(t):
            t = pa.large_string()  # pandas' Arrow strings are large_string: keep them, no copy
        fields.append(pa.field(f.name, t))
    # per-column cast: columns whose type is already right are passed through untouched
    return pa.table(
        [col if col.type == fl.type else col.cast(fl.type) for col, fl in zip(table.columns, fields)],
        schema=pa.schema(fields),
    )


def from_arrow(table: pa.Table, self_destruct: bool = True) -> pd.DataFrame:
    """Arrow -> pandas with nullable dtypes; dates and timestamps as datetime64[ns].

    self_destruct + split_blocks: Arrow buffers are released column by column as they convert
    (never for a table whose buffers another holder still reads, such as the handoff)."""
    df = table.to_pandas(
        types_mapper=_TO_PANDAS.get, date_as_object=False, split_blocks=True, self_destruct=self_destruct
    )
    for name in df.columns:
        if pd.api.types.is_datetime64_any_dtype(df[name]):
            df[name] = df[name].astype("datetime64[ns]")
    return df
