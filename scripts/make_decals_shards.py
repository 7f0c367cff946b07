"""GZ DECaLS volunteer table + the DECaLS PNG release -> canonical catalog -> TFRecord shards.

Full-size settings (Walmsley et al. 2022): 424 px PNGs stored at 300 px, 3 channels, uint8.

    python scripts/make_decals_shards.py --table gz_decals_volunteers_5.csv \
        --images gz_decals_dr5_png/ --out decals_dr5_shards --processes 16

The release splits its PNGs over several folders (part1..4/Jxxx/); images are found
recursively by ``iauname``. Rejected rows are listed in ``<out>/catalog.csv.rejected.csv``.
"""

import argparse

from zoobot_tf.shards.from_table import add_table_arguments, table_to_shards


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", required=True, help="GZ DECaLS volunteer table (CSV/Parquet)")
    parser.add_argument("--schema", default=None, help="decals_dr5 / decals_dr12 / decals_dr8 (default: inferred)")
    args = add_table_arguments(parser).parse_args(argv)
    table_to_shards("decals", args.table, args, schema=args.schema)


if __name__ == "__main__":
    main()
