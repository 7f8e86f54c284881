"""The `/slicer` surface: Slicer WebServer's REST API as one route table.

Paths match by prefix, first match wins, in the original's order (so `/threeDGraphics` is
tried before `/threeD`, `/volumes` before `/volume`, and `/mrmlfoo` is still `/mrml`, as
clients of the original may rely on). Where the original ignored the method, the route
accepts any method; `/mrml` and `/system` dispatch on it as the original did. Two aliases the
original lacks are added for old clients: `/repl` (SlicerWeb's name for exec, `__replResult`)
and `/open?url=` (what slicerio sends for `slicer://` URLs). Unknown paths are 404
`unknown command "..."`.

HEAD is answered by the GET handler (the server maps it), so routes whose every call
changes something are wrapped in `changes_scene`, which refuses HEAD with a 405.

Handlers live in small modules by topic; this module only declares the table.
"""

from __future__ import annotations

from adapters.http import (
    slicer_dicomweb,
    slicer_markups,
    slicer_mrml,
    slicer_system,
    slicer_views,
    slicer_volumes,
)
from adapters.http.routing import ANY_METHOD, Route, RouteTable
from adapters.http.slicer_common import changes_scene

GET = ("GET",)

SLICER_ROUTES = RouteTable(
    "/slicer",
    [
        Route("/exec", changes_scene(slicer_system.exec_code)),
        Route("/timeimage", slicer_system.timeimage),
        Route("/system/version", slicer_system.version, GET, match="exact"),
        Route("/system", slicer_system.shutdown, ("DELETE",)),
        Route("/system", slicer_system.system_unknown, ANY_METHOD),
        Route("/gui", changes_scene(slicer_views.gui)),
        Route("/screenshot", slicer_views.screenshot),
        Route("/slice", slicer_views.slice_image),
        Route("/threeDGraphics", slicer_views.threed_graphics),
        Route("/threeD", slicer_views.threed_image),
        Route("/mrml/names", slicer_mrml.names, GET, match="exact"),
        Route("/mrml/ids", slicer_mrml.ids, GET, match="exact"),
        Route("/mrml/properties", slicer_mrml.properties, GET, match="exact"),
        Route("/mrml/file", changes_scene(slicer_mrml.save_file), GET, match="exact"),
        Route("/mrml", slicer_mrml.names, GET, match="exact"),
        Route("/mrml", slicer_mrml.load, ("POST",)),
        Route("/mrml", slicer_mrml.reload, ("PUT",)),
        Route("/mrml", slicer_mrml.remove, ("DELETE",)),
        Route("/mrml", slicer_mrml.invalid_path, ANY_METHOD),
        Route("/tracking", changes_scene(slicer_markups.tracking)),
        Route("/sampledata", changes_scene(slicer_system.sampledata)),
        Route("/volumeSelection", changes_scene(slicer_volumes.volume_selection)),
        Route("/volumes", slicer_volumes.volumes),
        Route("/volume", slicer_volumes.volume),
        Route("/gridTransforms", slicer_volumes.grid_transforms),
        Route("/gridTransform", slicer_volumes.grid_transform),
        Route("/fiducials", slicer_markups.fiducials),
        Route("/fiducial", changes_scene(slicer_markups.fiducial)),
        Route("/segmentations", slicer_markups.segmentations),
        Route("/segmentation", slicer_markups.segmentation),
        Route("/accessDICOMwebStudy", changes_scene(slicer_dicomweb.access_dicomweb_study)),
        Route("/repl", changes_scene(slicer_system.repl)),
        Route("/open", slicer_mrml.open_url, ("POST",)),
    ],
)

#: `DELETE /system`, without the `/slicer` prefix: what slicerio's `stop_server()` sends (the
#: original answered it from the static handler with a 404, so slicerio could never stop it).
#: Mounted at `/system` as its own small surface.
SYSTEM_ALIAS_ROUTES = RouteTable(
    "/system", [Route("", slicer_system.shutdown, ("DELETE",), match="exact")]
)
