"""GZ2 Hart et al. (2016) table + filename mapping + the GZ2 JPGs -> canonical catalog -> shards.

Full-size settings: 424 px JPGs stored at 300 px, 3 channels, uint8.

    python scripts/make_gz2_shards.py --table gz2_hart16.csv --mapping gz2_filename_mapping.csv \
        --images gz2_images/ --out gz2_shards --processes 16

Ids are the 18-digit ``dr7objid`` kept as strings; each image is ``<asset_id>.jpg``.
"""

import argparse

from zoobot_tf.shards.from_table import add_table_arguments, table_to_shards


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", required=True, help="gz2_hart16 table (CSV/Parquet/FITS)")
    parser.add_argument("--mapping", required=True, help="gz2_filename_mapping (objid, sample, asset_id)")
    args = add_table_arguments(parser).parse_args(argv)
    table_to_shards("gz2", args.table, args, schema="gz2", mapping=args.mapping)


if __name__ == "__main__":
    main()
