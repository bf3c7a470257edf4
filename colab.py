"""Running the notebook in Colab: install only what the runtime lacks; publish the repository's URL.

    python colab.py --missing          # which of pyproject.toml's requirements this Python lacks
    python colab.py --set-repo-url     # after publishing: fill the notebook's REPO_URL and put both Colab
                                       # badges in (until then a line says how to open the notebook in
                                       # Colab) from `git remote get-url origin`, then commit the two files
"""

import subprocess
import sys

from mnist_norm import colab
from mnist_norm import rundir


def main(argv=None):
    parser = rundir.Parser(prog="colab.py", description=__doc__.split("\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--missing", action="store_true", help="list the requirements this Python lacks")
    action.add_argument("--set-repo-url", nargs="?", const="origin", metavar="URL",
                        help="a GitHub URL, or nothing to take `git remote get-url origin`")
    args = parser.parse_args(argv)
    if args.missing:
        for req in colab.missing_requirements():
            print(req)
        return 0
    remote = args.set_repo_url
    if remote == "origin":
        found = subprocess.run(["git", "remote", "get-url", "origin"], cwd=colab.ROOT, capture_output=True, text=True)
        if found.returncode != 0:
            print("error: this clone has no 'origin' remote; pass the URL: python colab.py --set-repo-url URL",
                  file=sys.stderr)
            return 1
        remote = found.stdout
    try:
        url = colab.set_repo_url(remote)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"REPO_URL and both Colab badges now point to {url}; commit Normalization_Keras.ipynb and README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

