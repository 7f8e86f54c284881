// An independent OpenIGTLink peer for the bridge's interoperability tests, built at test time
// with g++ against Debian's libopenigtlink-dev 1.11 (header v1 only).
//
// Usage: igtl_peer HOST PORT PUSHED_DEVICE
//
// It sends, each packed by the reference library with its CRC-64:
//   TRANSFORM "CppTool"  rotation 90 degrees about S, translation (1, 2, 3)
//   POSITION  "CppPos"   position (4, 5, 6), quaternion (0, 0, sin 45, cos 45)
//   IMAGE     "CppImage" 4 x 3 x 2 int16 voxels v = i + 10 j + 100 k, big-endian, RAS,
//                        spacing (0.5, 1, 2), centre (10, 20, 30)
//   TDATA     "Tracker"  "Stylus" at (11, 12, 13), "Ref" at the origin
//   QTDATA    "QTracker" "Probe" at (21, 22, 23), quaternion (0, 0, sin 45, cos 45)
//   POINT     "Targets"  "T-1" (1, 2, 3), "T-2" (4, 5, 6)
//   STRING    "Note"     "hello from C++"
//   STATUS    "Laser"    code 13 (not ready), sub-code 3, "Warming", "not ready"
//   POLYDATA  "Surface"  4 points, one quad
//   STT_TDATA ""         resolution 50 ms: stream every transform
//   GET_STATUS "Bridge"
//   GET_POLYDATA "Surface"
// then reads until it has seen RTS_TDATA, TDATA, STATUS, a TRANSFORM named PUSHED_DEVICE, a
// POLYDATA (the answer to GET_POLYDATA) and a STRING named "Memo" (pushed by the bridge),
// unpacking each with the CRC checked, and prints one line per message:
//   received RTS_TDATA <status> / received TDATA <n> <names…> / received STATUS <code>
//   received TRANSFORM <name> crc-ok <12 matrix values>
//   received POLYDATA <name> crc-ok <points> <x y z …> <polygons> <size i j k …>
//   received STRING <name> crc-ok <text>
// Anything else is skipped by its body size. Exit status 0 when all six arrived.

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "igtlClientSocket.h"
#include "igtlImageMessage.h"
#include "igtlMessageHeader.h"
#include "igtlOSUtil.h"
#include "igtlPointMessage.h"
#include "igtlPolyDataMessage.h"
#include "igtlPositionMessage.h"
#include "igtlQuaternionTrackingDataMessage.h"
#include "igtlStatusMessage.h"
#include "igtlStringMessage.h"
#include "igtlTimeStamp.h"
#include "igtlTrackingDataMessage.h"
#include "igtlTransformMessage.h"

static int send(igtl::ClientSocket::Pointer& socket, igtl::MessageBase::Pointer message,
                const char* what)
{
  message->Pack();
  if (socket->Send(message->GetPackPointer(), message->GetPackSize()) == 0)
  {
    std::fprintf(stderr, "cannot send %s\n", what);
    return 0;
  }
  std::printf("sent %s\n", what);
  return 1;
}

int main(int argc, char* argv[])
{
  if (argc != 4)
  {
    std::fprintf(stderr, "usage: %s HOST PORT PUSHED_DEVICE\n", argv[0]);
    return 2;
  }
  igtl::ClientSocket::Pointer socket = igtl::ClientSocket::New();
  if (socket->ConnectToServer(argv[1], std::atoi(argv[2])) != 0)
  {
    std::fprintf(stderr, "cannot connect to %s:%s\n", argv[1], argv[2]);
    return 1;
  }
  socket->SetReceiveTimeout(10000);
  igtl::TimeStamp::Pointer now = igtl::TimeStamp::New();
  now->GetTime();

  igtl::TransformMessage::Pointer transform = igtl::TransformMessage::New();
  transform->SetDeviceName("CppTool");
  igtl::Matrix4x4 matrix = {{0, -1, 0, 1}, {1, 0, 0, 2}, {0, 0, 1, 3}, {0, 0, 0, 1}};
  transform->SetMatrix(matrix);
  transform->SetTimeStamp(now);
  if (!send(socket, transform.GetPointer(), "TRANSFORM CppTool")) return 1;

  igtl::PositionMessage::Pointer position = igtl::PositionMessage::New();
  position->SetDeviceName("CppPos");
  position->SetPackType(igtl::PositionMessage::ALL);
  position->SetPosition(4.0f, 5.0f, 6.0f);
  position->SetQuaternion(0.0f, 0.0f, 0.70710678f, 0.70710678f);
  position->SetTimeStamp(now);
  if (!send(socket, position.GetPointer(), "POSITION CppPos")) return 1;

  igtl::ImageMessage::Pointer image = igtl::ImageMessage::New();
  image->SetDeviceName("CppImage");
  image->SetDimensions(4, 3, 2);
  image->SetSpacing(0.5f, 1.0f, 2.0f);
  image->SetScalarTypeToInt16();
  image->SetEndian(igtl::ImageMessage::ENDIAN_BIG);
  image->SetCoordinateSystem(igtl::ImageMessage::COORDINATE_RAS);
  image->SetOrigin(10.0f, 20.0f, 30.0f);  // the P field: the image centre
  image->AllocateScalars();
  unsigned char* voxels = static_cast<unsigned char*>(image->GetScalarPointer());
  for (int k = 0; k < 2; ++k)
    for (int j = 0; j < 3; ++j)
      for (int i = 0; i < 4; ++i)
      {
        int value = i + 10 * j + 100 * k;
        int index = 2 * (i + 4 * (j + 3 * k));
        voxels[index] = static_cast<unsigned char>((value >> 8) & 0xff);  // big-endian
        voxels[index + 1] = static_cast<unsigned char>(value & 0xff);
      }
  image->SetTimeStamp(now);
  if (!send(socket, image.GetPointer(), "IMAGE CppImage")) return 1;

  igtl::TrackingDataMessage::Pointer tdata = igtl::TrackingDataMessage::New();
  tdata->SetDeviceName("Tracker");
  igtl::TrackingDataElement::Pointer stylus = igtl::TrackingDataElement::New();
  stylus->SetName("Stylus");
  stylus->SetType(igtl::TrackingDataElement::TYPE_6D);
  igtl::Matrix4x4 stylusMatrix = {{1, 0, 0, 11}, {0, 1, 0, 12}, {0, 0, 1, 13}, {0, 0, 0, 1}};
  stylus->SetMatrix(stylusMatrix);
  tdata->AddTrackingDataElement(stylus);
  igtl::TrackingDataElement::Pointer reference = igtl::TrackingDataElement::New();
  reference->SetName("Ref");
  reference->SetType(igtl::TrackingDataElement::TYPE_TRACKER);
  igtl::Matrix4x4 identity = {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}};
  reference->SetMatrix(identity);
  tdata->AddTrackingDataElement(reference);
  if (!send(socket, tdata.GetPointer(), "TDATA Tracker")) return 1;

  igtl::QuaternionTrackingDataMessage::Pointer qtdata = igtl::QuaternionTrackingDataMessage::New();
  qtdata->SetDeviceName("QTracker");
  igtl::QuaternionTrackingDataElement::Pointer probe = igtl::QuaternionTrackingDataElement::New();
  probe->SetName("Probe");
  probe->SetType(igtl::QuaternionTrackingDataElement::TYPE_6D);
  probe->SetPosition(21.0f, 22.0f, 23.0f);
  probe->SetQuaternion(0.0f, 0.0f, 0.70710678f, 0.70710678f);
  qtdata->AddQuaternionTrackingDataElement(probe);
  if (!send(socket, qtdata.GetPointer(), "QTDATA QTracker")) return 1;

  igtl::PointMessage::Pointer point = igtl::PointMessage::New();
  point->SetDeviceName("Targets");
  const char* pointNames[2] = {"T-1", "T-2"};
  for (int index = 0; index < 2; ++index)
  {
    igtl::PointElement::Pointer element = igtl::PointElement::New();
    element->SetName(pointNames[index]);
    element->SetGroupName("GROUP_0");
    element->SetRGBA(255, 0, 0, 255);
    element->SetPosition(1.0f + 3 * index, 2.0f + 3 * index, 3.0f + 3 * index);
    element->SetRadius(2.0f);
    element->SetOwner("Cpp");
    point->AddPointElement(element);
  }
  if (!send(socket, point.GetPointer(), "POINT Targets")) return 1;

  igtl::StringMessage::Pointer text = igtl::StringMessage::New();
  text->SetDeviceName("Note");
  text->SetString("hello from C++");
  if (!send(socket, text.GetPointer(), "STRING Note")) return 1;

  igtl::StatusMessage::Pointer status = igtl::StatusMessage::New();
  status->SetDeviceName("Laser");
  status->SetCode(igtl::StatusMessage::STATUS_NOT_READY);
  status->SetSubCode(3);
  status->SetErrorName("Warming");
  status->SetStatusString("not ready");
  if (!send(socket, status.GetPointer(), "STATUS Laser")) return 1;

  igtl::PolyDataMessage::Pointer surface = igtl::PolyDataMessage::New();
  surface->SetDeviceName("Surface");
  igtl::PolyDataPointArray::Pointer corners = igtl::PolyDataPointArray::New();
  corners->AddPoint(0.0f, 0.0f, 0.0f);
  corners->AddPoint(1.0f, 0.0f, 0.0f);
  corners->AddPoint(1.0f, 1.0f, 0.0f);
  corners->AddPoint(0.0f, 1.0f, 0.0f);
  surface->SetPoints(corners);
  igtl::PolyDataCellArray::Pointer quads = igtl::PolyDataCellArray::New();
  igtlUint32 quad[4] = {0, 1, 2, 3};
  quads->AddCell(4, quad);
  surface->SetPolygons(quads);
  if (!send(socket, surface.GetPointer(), "POLYDATA Surface")) return 1;

  igtl::StartTrackingDataMessage::Pointer start = igtl::StartTrackingDataMessage::New();
  start->SetDeviceName("");
  start->SetResolution(50);
  start->SetCoordinateName("");
  if (!send(socket, start.GetPointer(), "STT_TDATA")) return 1;

  igtl::GetStatusMessage::Pointer query = igtl::GetStatusMessage::New();
  query->SetDeviceName("Bridge");
  if (!send(socket, query.GetPointer(), "GET_STATUS Bridge")) return 1;

  igtl::GetPolyDataMessage::Pointer model_query = igtl::GetPolyDataMessage::New();
  model_query->SetDeviceName("Surface");
  if (!send(socket, model_query.GetPointer(), "GET_POLYDATA Surface")) return 1;
  std::fflush(stdout);

  const int all = 63;
  int seen = 0;  // bits: 1 RTS_TDATA, 2 TDATA, 4 STATUS, 8 the pushed TRANSFORM, 16 POLYDATA,
                 // 32 the pushed STRING
  igtl::MessageHeader::Pointer header = igtl::MessageHeader::New();
  for (int received = 0; received < 200 && seen != all; ++received)
  {
    header->InitPack();
    if (socket->Receive(header->GetPackPointer(), header->GetPackSize()) != header->GetPackSize())
    {
      std::fprintf(stderr, "connection closed or timed out (seen %d)\n", seen);
      return 1;
    }
    header->Unpack();
    std::string type = header->GetDeviceType();
    igtl::MessageBase::Pointer body;
    if (type == "RTS_TDATA") body = igtl::RTSTrackingDataMessage::New().GetPointer();
    else if (type == "TDATA") body = igtl::TrackingDataMessage::New().GetPointer();
    else if (type == "STATUS") body = igtl::StatusMessage::New().GetPointer();
    else if (type == "TRANSFORM" && std::strcmp(header->GetDeviceName(), argv[3]) == 0)
      body = igtl::TransformMessage::New().GetPointer();
    else if (type == "POLYDATA") body = igtl::PolyDataMessage::New().GetPointer();
    else if (type == "STRING" && std::strcmp(header->GetDeviceName(), "Memo") == 0)
      body = igtl::StringMessage::New().GetPointer();
    if (body.IsNull())
    {
      std::printf("skipped %s %s\n", type.c_str(), header->GetDeviceName());
      socket->Skip(header->GetBodySizeToRead(), 1);
      continue;
    }
    body->SetMessageHeader(header);
    body->AllocatePack();
    socket->Receive(body->GetPackBodyPointer(), body->GetPackBodySize());
    if (!(body->Unpack(1) & igtl::MessageHeader::UNPACK_BODY))
    {
      std::printf("received %s %s crc-bad\n", type.c_str(), header->GetDeviceName());
      return 1;
    }
    if (type == "RTS_TDATA")
    {
      igtl::RTSTrackingDataMessage* rts = static_cast<igtl::RTSTrackingDataMessage*>(body.GetPointer());
      std::printf("received RTS_TDATA %d\n", rts->GetStatus());
      seen |= 1;
    }
    else if (type == "TDATA")
    {
      igtl::TrackingDataMessage* bundle = static_cast<igtl::TrackingDataMessage*>(body.GetPointer());
      std::printf("received TDATA %d", bundle->GetNumberOfTrackingDataElements());
      for (int index = 0; index < bundle->GetNumberOfTrackingDataElements(); ++index)
      {
        igtl::TrackingDataElement::Pointer element;
        bundle->GetTrackingDataElement(index, element);
        std::printf(" %s", element->GetName());
      }
      std::printf("\n");
      seen |= 2;
    }
    else if (type == "STATUS")
    {
      igtl::StatusMessage* report = static_cast<igtl::StatusMessage*>(body.GetPointer());
      std::printf("received STATUS %d %s\n", report->GetCode(), report->GetStatusString());
      seen |= 4;
    }
    else if (type == "POLYDATA")
    {
      igtl::PolyDataMessage* surface = static_cast<igtl::PolyDataMessage*>(body.GetPointer());
      std::printf("received POLYDATA %s crc-ok", surface->GetDeviceName());
      igtl::PolyDataPointArray* points = surface->GetPoints();
      int point_count = points ? points->GetNumberOfPoints() : 0;
      std::printf(" %d", point_count);
      for (int index = 0; index < point_count; ++index)
      {
        igtlFloat32 xyz[3];
        points->GetPoint(index, xyz);
        std::printf(" %g %g %g", xyz[0], xyz[1], xyz[2]);
      }
      igtl::PolyDataCellArray* polygons = surface->GetPolygons();
      int cell_count = polygons ? polygons->GetNumberOfCells() : 0;
      std::printf(" %d", cell_count);
      for (int index = 0; index < cell_count; ++index)
      {
        igtlUint32 cell[16];
        igtlUint32 size = polygons->GetCellSize(index);
        if (size > 16) return 1;
        polygons->GetCell(index, cell);
        std::printf(" %u", size);
        for (igtlUint32 point = 0; point < size; ++point) std::printf(" %u", cell[point]);
      }
      std::printf("\n");
      seen |= 16;
    }
    else if (type == "STRING")
    {
      igtl::StringMessage* memo = static_cast<igtl::StringMessage*>(body.GetPointer());
      std::printf("received STRING %s crc-ok %s\n", memo->GetDeviceName(), memo->GetString());
      seen |= 32;
    }
    else
    {
      igtl::TransformMessage* pushed = static_cast<igtl::TransformMessage*>(body.GetPointer());
      igtl::Matrix4x4 m;
      pushed->GetMatrix(m);
      std::printf("received TRANSFORM %s crc-ok", pushed->GetDeviceName());
      for (int row = 0; row < 3; ++row)
        for (int column = 0; column < 4; ++column) std::printf(" %g", m[row][column]);
      std::printf("\n");
      seen |= 8;
    }
    std::fflush(stdout);
  }
  socket->CloseSocket();
  if (seen == all) return 0;
  std::fprintf(stderr, "not everything arrived (seen %d)\n", seen);
  return 1;
}
